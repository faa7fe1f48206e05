"""Use cases for people: submit, review, cancel, revoke and extend access requests, and read them.

Each call loads the request, applies the pure transition from :mod:`kubejit.domain.workflow`, and stores
the new state together with its audit event in one transaction, retrying when another replica changed the
request in between (optimistic concurrency: two approvers racing produce exactly one approval). Refused
review and revoke attempts are audited too. Materializing grants in the cluster is the grant keeper's job
(:mod:`kubejit.services.keeper`); this module only wakes it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from kubejit.domain import workflow as wf
from kubejit.domain.audit import AuditKind
from kubejit.domain.durations import format_duration
from kubejit.domain.errors import InvalidInput, NotFound, Refused, StaleWrite
from kubejit.domain.pending_reviews import reviews_open_to
from kubejit.domain.policy import AccessPolicy, Identity
from kubejit.domain.workflow import AccessRequest, State, Verdict
from kubejit.ports import Clock, Notification, Notifier, Seal, Stored, UnitOfWork, UnitOfWorkFactory

_RETRIES = 8
_ID_PREFIX = re.compile(r"req-[0-9a-f]{1,32}")  # what may be the start of an id (new_request_id)
_SHOWN_MATCHES = 5  # an ambiguous start of an id names at most this many of the requests it starts
_PREFIX_PAGE = 100  # ids starting with a prefix read per query while looking for the visible ones
# What may be done to a row the broker did not write (no seal, or a broken one): only ending it. Approving or
# extending it would seal what someone wrote behind the broker's back, and so make it a grant.
_ENDING_ONLY = frozenset({AuditKind.GRANT_REVOKED, AuditKind.REQUEST_CANCELLED, AuditKind.REQUEST_DENIED})


def _apply(
    kind: AuditKind,
    change: Callable[[AccessPolicy, AccessRequest, Any], AccessRequest],
    policy: AccessPolicy,
    stored: Stored,
    now: Any,
) -> AccessRequest:
    if stored.seal is not Seal.VALID and kind not in _ENDING_ONLY:
        raise Refused(
            f"request {stored.request.id} was not written by this broker (its row's seal is {stored.seal}): "
            "it can only be revoked, cancelled or denied; ask an admin to run `kubejit audit verify`"
        )
    return change(policy, stored.request, now)


def _review_candidates(uow: UnitOfWork, policy: AccessPolicy, who: Identity) -> list[Stored]:
    """Candidates for ``who``'s review: pending requests, active grants (a pending extension) and break-glass
    grants, also ended ones, in the profiles ``who`` reviews (the newest 500 of each)."""
    profiles = [p.name for p in policy.profiles if wf.may_review(policy, p, who)]
    if not profiles:
        return []
    live = uow.requests.find(states=[State.PENDING, State.APPROVED, State.ACTIVE], profiles=profiles)
    ended = uow.requests.find(states=[State.EXPIRED, State.REVOKED], profiles=profiles)
    return [*live, *(s for s in ended if s.request.break_glass and s.request.break_glass_review is None)]


def _check_break_glass_limit(policy: AccessPolicy, name: str, who: Identity, duration: timedelta | None) -> None:
    """Refuse a break-glass use longer than ``breakGlass.maxDuration``, naming that limit (the workflow's own
    refusal names only the profile, which reads as if the profile's ``maxDuration`` were meant)."""
    profile = policy.profile(name)
    rule = profile.break_glass if profile is not None else None
    if duration is None or rule is None or rule.max_duration is None or not rule.allowed.includes(who):
        return
    if duration > rule.max_duration:
        raise Refused(
            f"{format_duration(duration)} is longer than the break-glass limit of profile {name} "
            f"(breakGlass.maxDuration {format_duration(rule.max_duration)}): ask for less, or request the profile "
            "the normal way"
        )


def new_request_id() -> str:
    return f"req-{secrets.token_hex(8)}"


def request_summary(request: AccessRequest) -> dict[str, Any]:
    """The facts of a request that audit events carry (the requester's policy claims only when it has some)."""
    summary: dict[str, Any] = {
        "requester": request.requester.user,
        "groups": sorted(request.requester.groups),
        "profile": request.profile,
        "namespaces": list(request.namespaces),
        "duration": format_duration(request.duration),
        "reason": request.reason,
        "state": str(request.state),
    }
    if request.requester.claims:
        summary["claims"] = dict(request.requester.claims)
    return summary


@dataclass
class AccessService:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    notifier: Notifier
    wake_keeper: Callable[[], None] = lambda: None
    on_audit: Callable[[], None] = lambda: None  # called after audit events were committed (checkpointing)
    new_id: Callable[[], str] = field(default=new_request_id)

    # ---- reads ---------------------------------------------------------------------------------------------------

    def visible_to(self, who: Identity, request: AccessRequest) -> bool:
        """Requesters see theirs, approvers the requests for their profiles, auditors and admins everything."""
        policy = self.policy()
        if who.user == request.requester.user or policy.admins.includes(who) or policy.auditors.includes(who):
            return True
        profile = policy.profile(request.profile)
        return profile is not None and profile.approval.approvers.includes(who)

    def get(self, who: Identity, request_id: str) -> AccessRequest:
        """The request with this id, or with the one id among those ``who`` can see that starts with it."""
        with self.uow(read_only=True) as uow:
            request = self._find(uow, who, request_id)
        if not self.visible_to(who, request):
            raise NotFound(f"there is no request {request_id} that you can see")
        return request

    def resolve(self, who: Identity, request_id: str) -> str:
        """The full id ``request_id`` names: itself, or the one visible request whose id starts with it
        (``req-fdf5``). NotFound when none matches, InvalidInput naming the matches when several do."""
        return self.get(who, request_id).id

    def _find(self, uow: UnitOfWork, who: Identity, request_id: str) -> AccessRequest:
        try:
            return uow.requests.get(request_id).request
        except NotFound:
            if not _ID_PREFIX.fullmatch(request_id):
                raise
        # Not an id: a prefix. Only requests the caller can see are matched (others' ids are not hinted at).
        matches = self._visible_starting_with(uow, who, request_id)
        if not matches:
            raise NotFound(f"there is no request {request_id} (nor one whose id starts with it) that you can see")
        if len(matches) > _SHOWN_MATCHES:
            shown = ", ".join(r.id for r in matches[:_SHOWN_MATCHES])
            raise InvalidInput(
                f"{request_id} is the start of more than {_SHOWN_MATCHES} request ids ({shown}, ...): "
                "give more of the id"
            )
        if len(matches) > 1:
            shown = ", ".join(r.id for r in matches)
            raise InvalidInput(
                f"{request_id} is the start of {len(matches)} request ids ({shown}): give more of the id"
            )
        return matches[0]

    def _visible_starting_with(self, uow: UnitOfWork, who: Identity, prefix: str) -> list[AccessRequest]:
        """Up to one more than :data:`_SHOWN_MATCHES` requests ``who`` can see whose id starts with ``prefix``, by
        id: the store's prefix query a page at a time, so only ids that start with it are read."""
        found: list[AccessRequest] = []
        after = ""
        while len(found) <= _SHOWN_MATCHES:
            page = uow.requests.with_id_prefix(prefix, after=after, limit=_PREFIX_PAGE)
            found.extend(s.request for s in page if self.visible_to(who, s.request))
            if len(page) < _PREFIX_PAGE:
                break
            after = page[-1].request.id
        return found[: _SHOWN_MATCHES + 1]

    def list(
        self, who: Identity, *, states: list[State] | None = None, mine: bool = False, reviewable: bool = False
    ) -> list[AccessRequest]:
        """Requests the caller may see; ``mine`` only theirs; ``reviewable`` only pending ones they may approve."""
        policy = self.policy()
        with self.uow(read_only=True) as uow:
            if mine:
                stored = uow.requests.find(states=states, requester=who.user)
            elif reviewable:
                stored = _review_candidates(uow, policy, who)
            else:
                stored = uow.requests.find(states=states)
        requests = [s.request for s in stored if self.visible_to(who, s.request)]
        if reviewable:
            requests = [r for r in requests if reviews_open_to(policy, r, who)]
        return requests

    # ---- changes -------------------------------------------------------------------------------------------------

    def submit(
        self,
        who: Identity,
        *,
        profile: str,
        namespaces: tuple[str, ...],
        duration: timedelta | None,
        reason: str,
        break_glass: bool = False,
        idempotency_key: str | None = None,
    ) -> AccessRequest:
        """A new request (approved at once when auto-approved or break-glass). Retrying with the same
        idempotency key returns the request the first call created instead of a second one."""
        policy = self.policy()
        now = self.clock.now()
        if break_glass:
            _check_break_glass_limit(policy, profile, who, duration)
        if idempotency_key:
            with self.uow(read_only=True) as uow:
                earlier = uow.idempotency.remembered(who.user, idempotency_key)
                if earlier is not None:
                    return uow.requests.get(earlier).request
        request = wf.submit(
            policy,
            request_id=self.new_id(),
            profile_name=profile,
            requester=who,
            namespaces=namespaces,
            duration=duration,
            reason=reason,
            now=now,
            break_glass=break_glass,
        )
        auto_approval = wf.auto_approval_facts(policy, request)
        with self.uow() as uow:
            if idempotency_key and (earlier := uow.idempotency.remembered(who.user, idempotency_key)) is not None:
                return uow.requests.get(earlier).request
            uow.requests.add(request)
            if idempotency_key:
                uow.idempotency.remember(who.user, idempotency_key, request.id, now)
            submitted = request_summary(request)
            if auto_approval and not request.auto_approved:
                submitted["autoApproval"] = auto_approval  # an autoApprove subject, and why it waits
            uow.audit.append(
                kind=AuditKind.REQUEST_SUBMITTED,
                actor=who.user,
                at=now,
                request_id=request.id,
                data=submitted,
            )
            if request.auto_approved:
                uow.audit.append(
                    kind=AuditKind.REQUEST_AUTO_APPROVED,
                    actor="kubejit",
                    at=now,
                    request_id=request.id,
                    data=auto_approval,
                )
            if request.break_glass:
                uow.audit.append(
                    kind=AuditKind.REQUEST_BREAK_GLASS,
                    actor=who.user,
                    at=now,
                    request_id=request.id,
                    data={"review": "required after the fact"},
                )
            uow.commit()
        self.on_audit()
        self._announce(request, now)
        return request

    def approve(self, who: Identity, request_id: str, comment: str = "") -> AccessRequest:
        return self._transition(
            who,
            request_id,
            AuditKind.REQUEST_APPROVED,
            lambda p, r, now: wf.approve(p, r, who, now, comment),
            {"comment": comment},
        )

    def deny(self, who: Identity, request_id: str, comment: str) -> AccessRequest:
        return self._transition(
            who,
            request_id,
            AuditKind.REQUEST_DENIED,
            lambda p, r, now: wf.deny(p, r, who, now, comment),
            {"comment": comment},
        )

    def cancel(self, who: Identity, request_id: str) -> AccessRequest:
        return self._transition(
            who, request_id, AuditKind.REQUEST_CANCELLED, lambda p, r, now: wf.cancel(p, r, who, now), {}
        )

    def revoke(self, who: Identity, request_id: str, reason: str = "") -> AccessRequest:
        return self._transition(
            who,
            request_id,
            AuditKind.GRANT_REVOKED,
            lambda p, r, now: wf.revoke(p, r, who, now, reason),
            {"reason": reason},
        )

    def revoke_by_broker(self, request_id: str, reason: str) -> AccessRequest:
        """End a grant on the broker's own decision (an alert rule with ``action: revoke``): the state change, the
        ``grant.revoked`` audit event (actor ``kubejit``, ``reason``), the keeper woken to unbind, and the
        ``grant.ended`` notice, as :meth:`revoke` makes them. Nobody asks, so nobody is authorized: no caller is
        checked and no policy is widened. ``request_id`` is a full id; Conflict once the grant has ended."""
        for _ in range(_RETRIES):
            with self.uow() as uow:
                stored = uow.requests.get(request_id)
                now = self.clock.now()
                before = stored.request
                # The domain's revoke (state check, end time, reason) by one who may always end a grant, its
                # requester; then named as the broker's, which is who decided.
                updated = replace(wf.revoke(self.policy(), before, before.requester, now, reason), ended_by="kubejit")
                try:
                    uow.requests.update(updated, stored.version)
                except StaleWrite:
                    continue
                data = {"reason": reason, "state": str(updated.state)}
                if updated.ends_at is not None and updated.ends_at != before.ends_at:
                    data["ends_at"] = updated.ends_at.isoformat()
                uow.audit.append(
                    kind=AuditKind.GRANT_REVOKED, actor="kubejit", at=now, request_id=request_id, data=data
                )
                uow.commit()
            self.on_audit()
            self._announce(updated, now, previous=before)
            return updated
        raise StaleWrite(f"request {request_id} kept changing while the broker revoked it: try again")

    def extend(self, who: Identity, request_id: str, extra: timedelta, reason: str) -> AccessRequest:
        return self._transition(
            who,
            request_id,
            AuditKind.GRANT_EXTENSION_REQUESTED,
            lambda p, r, now: wf.request_extension(p, r, who, extra, reason, now),
            {"extra": format_duration(extra), "reason": reason},
        )

    def review_extension(self, who: Identity, request_id: str, verdict: Verdict, comment: str = "") -> AccessRequest:
        return self._transition(
            who,
            request_id,
            AuditKind.GRANT_EXTENSION_APPROVED if verdict is Verdict.APPROVE else AuditKind.GRANT_EXTENSION_DENIED,
            lambda p, r, now: wf.review_extension(p, r, who, verdict, now, comment),
            {"comment": comment},
        )

    def review_break_glass(self, who: Identity, request_id: str, verdict: Verdict, comment: str) -> AccessRequest:
        return self._transition(
            who,
            request_id,
            AuditKind.GRANT_BREAK_GLASS_REVIEWED,
            lambda p, r, now: wf.review_break_glass(p, r, who, verdict, now, comment),
            {"verdict": str(verdict), "comment": comment},
        )

    def _transition(
        self,
        who: Identity,
        request_id: str,
        kind: AuditKind,
        change: Callable[[AccessPolicy, AccessRequest, Any], AccessRequest],
        data: dict[str, Any],
    ) -> AccessRequest:
        policy = self.policy()
        request_id = self.resolve(who, request_id)  # a unique prefix names its request, in the audit trail too
        for _ in range(_RETRIES):
            refusal: Refused | None = None
            with self.uow() as uow:
                stored = uow.requests.get(request_id)
                now = self.clock.now()  # read once the transaction holds the write lock, not before waiting
                if not self.visible_to(who, stored.request):
                    raise NotFound(f"there is no request {request_id} that you can see")
                try:
                    updated = _apply(kind, change, policy, stored, now)
                except Refused as refused:
                    refusal = refused
                else:
                    try:
                        uow.requests.update(updated, stored.version)
                    except StaleWrite:
                        continue
                    event_data = {**data, "state": str(updated.state)}
                    if updated.ends_at is not None and updated.ends_at != stored.request.ends_at:
                        event_data["ends_at"] = updated.ends_at.isoformat()
                    uow.audit.append(kind=kind, actor=who.user, at=now, request_id=request_id, data=event_data)
                    if updated.state is State.APPROVED and stored.request.state is State.PENDING:
                        uow.audit.append(
                            kind=AuditKind.REQUEST_QUORUM_REACHED,
                            actor="kubejit",
                            at=now,
                            request_id=request_id,
                            data={"approvers": list(updated.approvers)},
                        )
                    uow.commit()
            if refusal is not None:  # audited in a transaction of its own, after the first one ended
                self._audit_refusal(who, request_id, kind, str(refusal))
                raise refusal
            self.on_audit()
            self._announce(updated, now, previous=stored.request)
            return updated
        raise StaleWrite(f"request {request_id} kept changing while {who.user} acted on it: try again")

    def _audit_refusal(self, who: Identity, request_id: str, kind: AuditKind, message: str) -> None:
        with self.uow() as uow:
            uow.audit.append(
                kind=AuditKind.OPERATION_REFUSED,
                actor=who.user,
                at=self.clock.now(),
                request_id=request_id,
                data={"operation": str(kind), "message": message},
            )
            uow.commit()
        self.on_audit()

    def _announce(self, request: AccessRequest, now: Any, previous: AccessRequest | None = None) -> None:
        """Wake the keeper for anything it must act on, and tell people what they need to know."""
        changed = previous is None or previous.state is not request.state or previous.ends_at != request.ends_at
        if changed:
            self.wake_keeper()
        messages = {
            State.PENDING: ("request.pending", "needs review"),
            State.APPROVED: ("request.approved", "was approved"),
            State.DENIED: ("request.denied", "was denied"),
            State.REVOKED: ("grant.ended", "was revoked"),
            State.CANCELLED: ("request.cancelled", "was cancelled"),
        }
        if request.state in messages and (previous is None or previous.state is not request.state):
            event, verb = messages[request.state]
            who = request.requester.user
            ns = ", ".join(request.namespaces) or "all namespaces"
            text = f"{who}'s request {request.id} for {request.profile} in {ns} {verb}: {request.reason}"
            self.notifier.notify(Notification(event, request, now, text))
