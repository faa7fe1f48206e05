"""Activation: approved requests become access, oldest approval first, a batch per pass. RBAC bindings first,
then the state change and its audit events in one transaction; if that transaction fails, the bindings are
removed again (fail closed). A row that is not the broker's, or that the chain or the current policy does not
support, is never bound.

Why it exists: it is the pass that creates access, so it is kept apart and read on its own. A mixin of
:class:`~kubejit.services.reconciler.GrantReconciler`, run by its ``reconcile``.
"""

from __future__ import annotations

from kubejit.domain import workflow as wf
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError, StaleWrite, Unavailable
from kubejit.domain.policy import AccessPolicy
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import (
    Notification,
    Seal,
    Stored,
)
from kubejit.services.audit_replay import approved_row_problems
from kubejit.services.binding_sweep import binding_names
from kubejit.services.grant_trust import trust_problems
from kubejit.services.reconciler._state import _KeeperState


def _require_unchanged(current: Stored, bound: AccessRequest) -> None:
    """The row about to be recorded as active is still the broker's, and says what the bindings were made from."""
    fresh = current.request
    made_from = (bound.requester, bound.profile, bound.namespaces, bound.duration)
    if (
        current.seal is not Seal.VALID
        or (fresh.requester, fresh.profile, fresh.namespaces, fresh.duration) != made_from
    ):
        raise StaleWrite(f"{bound.id} was changed behind the broker's back while it was being bound")


class _Activation(_KeeperState):
    """Approved requests become active grants."""

    def activate_approved(self) -> int:
        """Activate approved requests, oldest approval first, at most ``batch`` per pass so that grants ending
        meanwhile are not kept waiting (the loop comes straight back for the rest)."""
        with self.uow(read_only=True) as uow:
            approved = uow.requests.find(states=[State.APPROVED], limit=10_000)
        # Rows refused for their seal or the chain stay approved (left as found, for the audit): skip them, or
        # enough planted rows with old approval times would fill every batch and keep real grants waiting.
        approved = [stored for stored in approved if not self._refusals.already(stored)]
        approved.sort(key=lambda s: s.request.approved_at or s.request.created_at)
        self._left_over = len(approved) > self.batch  # the next pass comes straight back for the rest
        return sum(self._activate(stored) for stored in approved[: self.batch])

    def _activate(self, stored: Stored) -> int:
        request = stored.request
        if self._backing_off(request.id) or not self.leader.is_leader():
            return 0
        policy = self.policy()
        profile = policy.profile(request.profile)
        if self._refused_activation(stored, policy) or profile is None:
            return 0
        now = self.clock.now()
        ends_at = now + request.duration
        try:
            refs = self.cluster.bind(request, profile, policy.identity, ends_at)
        except Unavailable as error:
            self._failed(request.id, AuditKind.GRANT_ACTIVATION_FAILED, error, {})
            return 0
        except KubejitError as error:
            return self._end_unusable(request, f"the cluster refused the binding: {error}")
        try:
            with self.uow() as uow:
                current = uow.requests.get(request.id)
                fresh = current.request
                if fresh.state is State.ACTIVE:
                    return 0  # another leader activated it meanwhile: the bindings are its, keep them
                if fresh.state is not State.APPROVED:
                    raise StaleWrite(f"{request.id} became {fresh.state} meanwhile")
                _require_unchanged(current, request)
                active = wf.activate(fresh, now)  # from the record read here: nothing written meanwhile is lost
                uow.requests.update(active, current.version)
                self._append(
                    uow,
                    AuditKind.BINDING_CREATED,
                    request.id,
                    {"bindings": binding_names(refs), "ends_at": ends_at.isoformat()},
                    now,
                )
                self._append(
                    uow,
                    AuditKind.GRANT_ACTIVATED,
                    request.id,
                    {"starts_at": now.isoformat(), "ends_at": ends_at.isoformat()},
                    now,
                )
                uow.commit()
        except Exception as error:
            # Fail closed: the access exists in the cluster but not on the record, so take it away again.
            removed = self.cluster.unbind(request.id, request.namespaces)
            self._audit(
                AuditKind.GRANT_ACTIVATION_FAILED if not isinstance(error, StaleWrite) else AuditKind.BINDING_DELETED,
                request.id,
                {"error": str(error), "bindings_removed": binding_names(removed)},
            )
            if not isinstance(error, StaleWrite):
                raise
            return 0
        self._succeeded(request.id)
        self.on_audit()
        self._ends_written[request.id] = ends_at
        self.stats.activated += 1
        if active.approved_at is not None:
            self.observer.approved_after(request.profile, (active.approved_at - active.created_at).total_seconds())
        self.notifier.notify(
            Notification(
                "grant.active",
                active,
                now,
                f"{request.requester.user} now has {request.profile} until {ends_at.isoformat()} ({request.id})",
            )
        )
        return 1

    def _refused_activation(self, stored: Stored, policy: AccessPolicy) -> bool:
        """True when the row must not be bound: not the broker's row, or an older copy of one that the chain
        says has moved on since (refused, left as it is for the audit), or not supported by the current policy
        (ended by kubejit, with the reasons)."""
        problems = trust_problems(policy, stored)
        if stored.seal is Seal.VALID and problems:
            self._end_unusable(stored.request, "the current policy does not support it: " + "; ".join(problems))
            return True
        if not problems:
            with self.uow(read_only=True) as uow:  # sealed, but perhaps an older copy put back: ask the chain
                problems = approved_row_problems(uow, stored)
            if not problems:
                return False
        self._refuse(stored, problems, AuditKind.GRANT_ACTIVATION_FAILED, {"retry": False})
        return True

    def _end_unusable(self, request: AccessRequest, reason: str) -> int:
        """An approved request that can never be activated is revoked by kubejit, with the reason."""
        now = self.clock.now()
        with self.uow() as uow:
            stored = uow.requests.get(request.id)
            if stored.request.state is not State.APPROVED:
                return 0
            ended = wf.abandon(stored.request, now, reason)
            uow.requests.update(ended, stored.version)
            self._append(uow, AuditKind.GRANT_ACTIVATION_FAILED, request.id, {"error": reason, "retry": False}, now)
            uow.commit()
        self.on_audit()
        self.stats.failures += 1
        return 0
