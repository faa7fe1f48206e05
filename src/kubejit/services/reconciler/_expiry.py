"""Expiry: every grant whose time is up loses its bindings (in parallel) and is then recorded as expired (one
transaction); a grant extended meanwhile gets its access back. Extended end times are written onto the grants'
bindings, for people reading them.

Why it exists: ending access on time is the keeper's other half, apart from granting it. A mixin of
:class:`~kubejit.services.reconciler.GrantReconciler`, run by its ``reconcile``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kubejit.domain import workflow as wf
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError, NotFound, StaleWrite
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import (
    BindingRef,
    Notification,
    Seal,
    Stored,
)
from kubejit.services.binding_sweep import binding_names
from kubejit.services.grant_trust import trust_problems
from kubejit.services.reconciler._state import _KeeperState, log


class _Expiry(_KeeperState):
    """Grants end when their time is up."""

    def expire_due(self) -> int:
        """End every grant whose time is up: bindings first (in parallel), then the records (one transaction)."""
        now = self.clock.now()
        with self.uow(read_only=True) as uow:
            due = [s.request for s in uow.requests.ending_before(now) if not self._backing_off(s.request.id)]
        if not due or not self.leader.is_leader():
            return 0
        unbound: list[tuple[AccessRequest, list[BindingRef]]] = []
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(due))) as pool:
            outcomes = pool.map(self._unbind_for_expiry, due)
            unbound = [(request, refs) for request, refs in zip(due, outcomes, strict=True) if refs is not None]
        return self._record_expiries(unbound)

    def _unbind_for_expiry(self, request: AccessRequest) -> list[BindingRef] | None:
        """Access first: the record follows. None when the cluster could not be reached (retried next pass)."""
        try:
            refs = self.cluster.unbind(request.id, request.namespaces)
        except KubejitError as error:
            self._failed(request.id, AuditKind.GRANT_EXPIRY_FAILED, error, {})
            return None
        self._succeeded(request.id)
        return refs

    def _record_expiries(self, unbound: list[tuple[AccessRequest, list[BindingRef]]]) -> int:
        now = self.clock.now()
        ended: list[AccessRequest] = []
        extended: list[Stored] = []
        with self.uow() as uow:
            for request, removed in unbound:
                try:
                    stored = uow.requests.get(request.id)
                except NotFound:
                    continue
                if stored.request.state is not State.ACTIVE:
                    continue
                if stored.request.ends_at is not None and stored.request.ends_at > now:
                    extended.append(stored)  # extended after it was read as due: give the access back
                    continue
                expired = wf.expire(stored.request, now)
                try:
                    uow.requests.update(expired, stored.version)
                except StaleWrite:
                    continue  # revoked or extended meanwhile: the next pass looks again
                ends_at = request.ends_at or now
                self._append(
                    uow,
                    AuditKind.BINDING_DELETED,
                    request.id,
                    {"bindings": binding_names(removed), "reason": "grant ended"},
                    now,
                )
                self._append(
                    uow,
                    AuditKind.GRANT_EXPIRED,
                    request.id,
                    {
                        "ends_at": ends_at.isoformat(),
                        "lag_seconds": round((now - ends_at).total_seconds(), 3),
                    },
                    now,
                )
                ended.append(expired)
            uow.commit()
        if ended:
            self.on_audit()
        for stored in extended:
            self._rebind(stored)
        for expired in ended:
            self.stats.expired += 1
            if expired.ends_at is not None:
                self.stats.expiry_lag_seconds.append((now - expired.ends_at).total_seconds())
                self.observer.expired_late(expired.profile, (now - expired.ends_at).total_seconds())
            self.notifier.notify(Notification("grant.ended", expired, now, f"{expired.id} for {expired.profile} ended"))
        return len(ended)

    def _rebind(self, stored: Stored) -> None:
        request = stored.request
        policy = self.policy()
        profile = policy.profile(request.profile)
        if profile is None or request.ends_at is None:
            return
        problems = trust_problems(policy, stored)
        if problems:  # the extension that kept it going is not one the broker made or the policy allows
            self._refuse(stored, problems, AuditKind.GRANT_REBIND_FAILED, {"retry": False})
            return
        try:
            refs = self.cluster.bind(request, profile, policy.identity, request.ends_at)
        except KubejitError as error:
            self._failed(request.id, AuditKind.GRANT_REBIND_FAILED, error, {})
            return
        self._audit(
            AuditKind.BINDING_CREATED, request.id, {"bindings": binding_names(refs), "reason": "extended while ending"}
        )

    def sync_end_times(self) -> int:
        """Write extended end times onto the grants' bindings (for people reading them; expiry uses the record)."""
        with self.uow(read_only=True) as uow:
            active = [
                s.request for s in uow.requests.find(states=[State.ACTIVE], limit=1_000_000) if s.seal is Seal.VALID
            ]
        changed = []
        for request in active:
            written = self._ends_written.get(request.id)
            if request.ends_at is not None and written != request.ends_at:
                if written is not None:
                    changed.append(request)
                self._ends_written[request.id] = request.ends_at

        def write(request: AccessRequest) -> None:
            try:
                self.cluster.set_end(request.id, request.ends_at or self.clock.now(), request.namespaces)
            except KubejitError as error:
                log.warning("could not record the new end time of %s on its bindings: %s", request.id, error)

        if changed:
            with ThreadPoolExecutor(max_workers=min(self.parallelism, len(changed))) as pool:
                list(pool.map(write, changed))
        return len(changed)
