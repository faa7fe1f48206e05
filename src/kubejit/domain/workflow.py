"""The life of an access request: submitted, reviewed, active for a while, then over.

Every transition is a pure function of the request, the policy, who acts and the time (passed in, never
read from a clock), returning a new immutable request or raising: :class:`Refused` when policy says no,
:class:`Conflict` when the request is not in a state that allows the step. The broker persists what these
functions return and materializes the grant in the cluster; the rules live only here.

States::

    pending --approve (quorum)--> approved --activate--> active --expire (at ends_at)--> expired
       |  \\--deny--> denied         |   \\--cancel--> cancelled   \\--revoke--> revoked
       |--cancel--> cancelled       \\--revoke--> revoked
       \\--time_out (pendingTimeout)--> timed-out

Auto-approval (requester in ``autoApprove``, by user, group or claims, for no longer than its
``maxDuration`` if it sets one; an extension counts the grant's whole life) and break-glass (requester in
``breakGlass.allowed``; flagged, reviewed after the fact) go straight to approved. An active grant may be
extended: an extension is approved by the same rules as the request and can never make the grant last longer
than ``maxExtendedDuration``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from kubejit.domain.durations import format_duration
from kubejit.domain.errors import Conflict, InvalidInput, NotFound, Refused
from kubejit.domain.policy import AccessPolicy, Identity, Profile, Scope


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DENIED = "denied"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed-out"


ENDED = frozenset({State.EXPIRED, State.REVOKED, State.DENIED, State.CANCELLED, State.TIMED_OUT})


class Verdict(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True)
class Review:
    reviewer: str
    verdict: Verdict
    at: datetime
    comment: str = ""


@dataclass(frozen=True)
class Extension:
    """A request to make an active grant last longer."""

    duration: timedelta
    reason: str
    requested_at: datetime
    state: State = State.PENDING  # pending, approved or denied
    reviews: tuple[Review, ...] = ()
    auto_approved: bool = False


@dataclass(frozen=True)
class AccessRequest:
    """A request for one profile, and — once approved and activated — the grant it became."""

    id: str
    requester: Identity
    profile: str
    namespaces: tuple[str, ...]
    duration: timedelta
    reason: str
    created_at: datetime
    state: State = State.PENDING
    reviews: tuple[Review, ...] = ()
    auto_approved: bool = False
    break_glass: bool = False
    break_glass_review: Review | None = None
    approved_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str = ""
    end_reason: str = ""
    extensions: tuple[Extension, ...] = ()

    def grants_access_at(self, when: datetime) -> bool:
        """True only while active and before the end time: no grant outlives ``ends_at``."""
        return (
            self.state is State.ACTIVE
            and self.starts_at is not None
            and self.ends_at is not None
            and self.starts_at <= when < self.ends_at
        )

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(r.reviewer for r in self.reviews if r.verdict is Verdict.APPROVE)

    @property
    def pending_extension(self) -> Extension | None:
        return next((e for e in self.extensions if e.state is State.PENDING), None)


# ---- who may do what ---------------------------------------------------------------------------------------------


def _profile(policy: AccessPolicy, name: str) -> Profile:
    profile = policy.profile(name)
    if profile is None:
        known = ", ".join(p.name for p in policy.profiles)
        raise NotFound(f"there is no access profile {name!r}; profiles: {known}")
    return profile


def may_review(policy: AccessPolicy, profile: Profile, who: Identity) -> bool:
    return profile.approval.approvers.includes(who) or policy.admins.includes(who)


def may_revoke(policy: AccessPolicy, request: AccessRequest, who: Identity) -> bool:
    """Its requester, the profile's approvers, and admins (DESIGN.md section 5)."""
    profile = policy.profile(request.profile)
    return (
        who.user == request.requester.user
        or policy.admins.includes(who)
        or (profile is not None and profile.approval.approvers.includes(who))
    )


def _require_state(request: AccessRequest, allowed: set[State], action: str) -> None:
    if request.state not in allowed:
        wanted = " or ".join(sorted(allowed))
        raise Conflict(f"cannot {action} request {request.id}: it is {request.state}, not {wanted}")


_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_TEXT = 2000


def _text(value: str, what: str) -> str:
    """Free text people will read in terminals and chat: no control characters (escape sequences), bounded."""
    if _CONTROL.search(value):
        raise InvalidInput(f"the {what} contains control characters: write plain text on one line")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"the {what} is longer than {MAX_TEXT} characters")
    return value.strip()


def _check_namespaces(profile: Profile, namespaces: tuple[str, ...]) -> None:
    if profile.scope is Scope.CLUSTER:
        if namespaces:
            raise InvalidInput(f"profile {profile.name} is cluster-wide: do not name namespaces")
        return
    if not namespaces:
        raise InvalidInput(
            f"profile {profile.name} needs at least one namespace (-n NS); allowed: {', '.join(profile.namespaces)}"
        )
    for namespace in namespaces:
        if not _NAMESPACE.fullmatch(namespace) or len(namespace) > 63:
            raise InvalidInput(f"{namespace!r} is not a namespace name")
        if not profile.allows_namespace(namespace):
            raise Refused(
                f"profile {profile.name} does not cover namespace {namespace}; allowed: {', '.join(profile.namespaces)}"
            )


# ---- transitions -------------------------------------------------------------------------------------------------


def submit(
    policy: AccessPolicy,
    *,
    request_id: str,
    profile_name: str,
    requester: Identity,
    namespaces: tuple[str, ...],
    duration: timedelta | None,
    reason: str,
    now: datetime,
    break_glass: bool = False,
) -> AccessRequest:
    """A new request: pending, or approved at once when auto-approved or break-glass."""
    profile = _profile(policy, profile_name)
    if break_glass:
        if profile.break_glass is None or not profile.break_glass.allowed.includes(requester):
            raise Refused(f"{requester.user} may not break the glass for profile {profile.name}")
        limit = profile.break_glass.max_duration or policy.max_duration_of(profile)
    else:
        if not profile.requesters.includes(requester):
            raise Refused(
                f"{requester.user} may not request profile {profile.name}; requesters: {profile.requesters.describe()}"
            )
        limit = policy.max_duration_of(profile)
    namespaces = tuple(dict.fromkeys(namespaces))
    _check_namespaces(profile, namespaces)
    wanted = duration if duration is not None else min(policy.default_duration_of(profile), limit)
    if wanted <= timedelta(0):
        raise InvalidInput("the duration must be positive")
    if wanted > limit:
        raise Refused(
            f"{format_duration(wanted)} is longer than profile {profile.name} allows "
            f"({format_duration(limit)}): ask for less"
        )
    reason = _text(reason, "reason")
    problem = profile.reason.problem_with(reason)
    if problem is not None:
        raise InvalidInput(problem)
    request = AccessRequest(
        id=request_id,
        requester=requester,
        profile=profile.name,
        namespaces=namespaces,
        duration=wanted,
        reason=reason.strip(),
        created_at=now,
    )
    if break_glass:
        return replace(request, state=State.APPROVED, break_glass=True, approved_at=now)
    if profile.approval.auto_approves(requester, wanted):
        return replace(request, state=State.APPROVED, auto_approved=True, approved_at=now)
    return request


def auto_approval_facts(policy: AccessPolicy, request: AccessRequest) -> dict[str, object]:
    """What the audit trail records about the auto-approval of ``request`` (or why an autoApprove subject's
    request was not auto-approved): the claims rule that matched and their values, and the duration cap."""
    profile = policy.profile(request.profile)
    if profile is None or not profile.approval.auto_approve.includes(request.requester):
        return {}
    approval = profile.approval
    facts: dict[str, object] = {}
    if approval.auto_approve_max_duration is not None:
        facts["maxDuration"] = format_duration(approval.auto_approve_max_duration)
    match = approval.auto_approve.claim_match_of(request.requester)
    if match is not None and not _named_directly(approval.auto_approve.users, approval.auto_approve.groups, request):
        facts["claims"] = match.matched_values(request.requester)
    if not request.auto_approved:
        facts["notAutoApproved"] = approval.auto_approve_too_long(request.duration) or "not auto-approved"
    return facts


def _named_directly(users: frozenset[str], groups: frozenset[str], request: AccessRequest) -> bool:
    return request.requester.user in users or not groups.isdisjoint(request.requester.groups)


def auto_approval_note(policy: AccessPolicy, request: AccessRequest) -> str | None:
    """For the requester: why a request from an autoApprove subject waits for approvers, or None."""
    if request.auto_approved or request.state is not State.PENDING:
        return None
    note = auto_approval_facts(policy, request).get("notAutoApproved")
    return f"not auto-approved: {note}" if isinstance(note, str) else None


def _check_reviewer(
    policy: AccessPolicy, profile: Profile, request: AccessRequest, reviewer: Identity, reviews: tuple[Review, ...]
) -> None:
    if not may_review(policy, profile, reviewer):
        raise Refused(
            f"{reviewer.user} may not review requests for profile {profile.name}; "
            f"approvers: {profile.approval.approvers.describe()}"
        )
    if reviewer.user == request.requester.user and not profile.approval.allow_self_approval:
        raise Refused(f"{reviewer.user} cannot review their own request: ask another approver")
    if any(r.reviewer == reviewer.user for r in reviews):
        raise Conflict(f"{reviewer.user} has already reviewed this")


def _quorum(profile: Profile, reviews: tuple[Review, ...]) -> bool:
    return len({r.reviewer for r in reviews if r.verdict is Verdict.APPROVE}) >= profile.approval.required


def pending_deadline(policy: AccessPolicy, request: AccessRequest) -> datetime:
    return request.created_at + policy.defaults.pending_timeout


def approve(
    policy: AccessPolicy, request: AccessRequest, reviewer: Identity, now: datetime, comment: str = ""
) -> AccessRequest:
    """Record an approval; the request becomes approved once ``required`` distinct approvers agreed."""
    _require_state(request, {State.PENDING}, "approve")
    if now >= pending_deadline(policy, request):
        raise Conflict(f"request {request.id} waited longer than the pending timeout and can no longer be approved")
    profile = _profile(policy, request.profile)
    _check_reviewer(policy, profile, request, reviewer, request.reviews)
    reviews = (*request.reviews, Review(reviewer.user, Verdict.APPROVE, now, _text(comment, "comment")))
    if _quorum(profile, reviews):
        return replace(request, reviews=reviews, state=State.APPROVED, approved_at=now)
    return replace(request, reviews=reviews)


def deny(
    policy: AccessPolicy, request: AccessRequest, reviewer: Identity, now: datetime, comment: str
) -> AccessRequest:
    """One denial ends the request."""
    _require_state(request, {State.PENDING}, "deny")
    comment = _text(comment, "comment")
    if not comment:
        raise InvalidInput("a denial needs a comment that tells the requester why")
    profile = _profile(policy, request.profile)
    _check_reviewer(policy, profile, request, reviewer, request.reviews)
    reviews = (*request.reviews, Review(reviewer.user, Verdict.DENY, now, comment.strip()))
    return replace(
        request, reviews=reviews, state=State.DENIED, ended_at=now, ended_by=reviewer.user, end_reason=comment
    )


def cancel(policy: AccessPolicy, request: AccessRequest, who: Identity, now: datetime) -> AccessRequest:
    """The requester (or an admin) withdraws a request that is not active yet."""
    _require_state(request, {State.PENDING, State.APPROVED}, "cancel")
    if who.user != request.requester.user and not policy.admins.includes(who):
        raise Refused(f"only {request.requester.user} (or an admin) can cancel request {request.id}")
    return replace(request, state=State.CANCELLED, ended_at=now, ended_by=who.user, end_reason="cancelled")


def time_out(policy: AccessPolicy, request: AccessRequest, now: datetime) -> AccessRequest:
    _require_state(request, {State.PENDING}, "time out")
    if now < pending_deadline(policy, request):
        raise Conflict(f"request {request.id} has not reached its pending timeout yet")
    return replace(request, state=State.TIMED_OUT, ended_at=now, ended_by="kubejit", end_reason="pending timeout")


def activate(request: AccessRequest, now: datetime) -> AccessRequest:
    """The grant starts now and ends ``duration`` later (called once access is materialized)."""
    _require_state(request, {State.APPROVED}, "activate")
    return replace(request, state=State.ACTIVE, starts_at=now, ends_at=now + request.duration)


def abandon(request: AccessRequest, now: datetime, reason: str) -> AccessRequest:
    """kubejit gives up on an approved request it can never activate (its profile or role is gone)."""
    _require_state(request, {State.APPROVED}, "abandon")
    return replace(request, state=State.REVOKED, ended_at=now, ended_by="kubejit", end_reason=reason)


def expire(request: AccessRequest, now: datetime) -> AccessRequest:
    _require_state(request, {State.ACTIVE}, "expire")
    if request.ends_at is None or now < request.ends_at:
        raise Conflict(f"grant {request.id} does not end before {request.ends_at}")
    return replace(request, state=State.EXPIRED, ended_at=now, ended_by="kubejit", end_reason="expired")


def revoke(
    policy: AccessPolicy, request: AccessRequest, who: Identity, now: datetime, reason: str = ""
) -> AccessRequest:
    """End a grant early (or withdraw an approved one before it starts)."""
    _require_state(request, {State.APPROVED, State.ACTIVE}, "revoke")
    if not may_revoke(policy, request, who):
        raise Refused(f"{who.user} may not revoke {request.id}: only its requester, the approvers or admins can")
    ends_at = min(request.ends_at, now) if request.ends_at is not None else None
    return replace(
        request,
        state=State.REVOKED,
        ends_at=ends_at,
        ended_at=now,
        ended_by=who.user,
        end_reason=_text(reason, "reason") or "revoked",
    )


def request_extension(
    policy: AccessPolicy, request: AccessRequest, who: Identity, extra: timedelta, reason: str, now: datetime
) -> AccessRequest:
    """Ask for more time on an active grant; auto-approved for autoApprove subjects."""
    _require_state(request, {State.ACTIVE}, "extend")
    if who.user != request.requester.user:
        raise Refused(f"only {request.requester.user} can extend {request.id}")
    if request.break_glass:
        raise Refused("a break-glass grant cannot be extended: request the profile the normal way")
    if request.pending_extension is not None:
        raise Conflict(f"{request.id} already has an extension waiting for review")
    if request.ends_at is None or request.starts_at is None or now >= request.ends_at:
        raise Conflict(f"grant {request.id} has ended")
    if extra <= timedelta(0):
        raise InvalidInput("the extension must be positive")
    profile = _profile(policy, request.profile)
    cap = policy.max_extended_duration_of(profile)
    if request.ends_at + extra - request.starts_at > cap:
        room = cap - (request.ends_at - request.starts_at)
        raise Refused(
            f"profile {profile.name} grants at most {format_duration(cap)} in all; "
            + (f"you can extend by {format_duration(room)} at most" if room > timedelta(0) else "no time is left")
        )
    reason = _text(reason, "reason")
    if profile.reason.required and not reason:
        raise InvalidInput("say why the grant needs more time")
    extension = Extension(extra, reason.strip(), now)
    if profile.approval.auto_approves(request.requester, request.ends_at + extra - request.starts_at):
        extension = replace(extension, state=State.APPROVED, auto_approved=True)
        return replace(request, extensions=(*request.extensions, extension), ends_at=request.ends_at + extra)
    return replace(request, extensions=(*request.extensions, extension))


def review_extension(
    policy: AccessPolicy, request: AccessRequest, reviewer: Identity, verdict: Verdict, now: datetime, comment: str = ""
) -> AccessRequest:
    """Approve (quorum as for the request) or deny the pending extension of an active grant."""
    _require_state(request, {State.ACTIVE}, "review an extension of")
    extension = request.pending_extension
    if extension is None:
        raise Conflict(f"{request.id} has no extension waiting for review")
    if request.ends_at is None or now >= request.ends_at:
        raise Conflict(f"grant {request.id} has ended")
    profile = _profile(policy, request.profile)
    _check_reviewer(policy, profile, request, reviewer, extension.reviews)
    reviews = (*extension.reviews, Review(reviewer.user, verdict, now, _text(comment, "comment")))
    ends_at = request.ends_at
    if verdict is Verdict.DENY:
        updated = replace(extension, reviews=reviews, state=State.DENIED)
    elif _quorum(profile, reviews):
        updated = replace(extension, reviews=reviews, state=State.APPROVED)
        ends_at = request.ends_at + extension.duration
    else:
        updated = replace(extension, reviews=reviews)
    extensions = tuple(updated if e is extension else e for e in request.extensions)
    return replace(request, extensions=extensions, ends_at=ends_at)


def review_break_glass(
    policy: AccessPolicy, request: AccessRequest, reviewer: Identity, verdict: Verdict, now: datetime, comment: str
) -> AccessRequest:
    """The after-the-fact review every break-glass grant needs, by an approver or admin other than its user."""
    if not request.break_glass:
        raise Conflict(f"{request.id} is not a break-glass grant")
    if request.break_glass_review is not None:
        raise Conflict(f"{request.id} was already reviewed by {request.break_glass_review.reviewer}")
    profile = _profile(policy, request.profile)
    if not may_review(policy, profile, reviewer) or reviewer.user == request.requester.user:
        raise Refused(f"{reviewer.user} may not review this break-glass use: an approver or admin other than its user")
    comment = _text(comment, "comment")
    if not comment:
        raise InvalidInput("a break-glass review needs a comment")
    return replace(request, break_glass_review=Review(reviewer.user, verdict, now, comment.strip()))
