"""Whether a request, as recorded, is a grant the *current* policy would have made: the keeper's and the gateway
feed's second question before they honour a row (the first is whether the broker wrote it: its seal).

A request can be approved under one policy and still be on record when the policy changes, and a row can be
written behind the broker's back. :func:`grant_problems` re-checks everything the workflow checked on the way
(requester eligibility or break-glass, namespaces against the profile's patterns, duration caps with every
extension and ``maxExtendedDuration``, the quorum of distinct approvers without self-approval unless allowed, or
auto-approval) and lists, in words, what the current policy no longer supports. No list means the grant may be
honoured. Callers: :mod:`kubejit.services.grant_trust` (for the reconciler and the gateway feed).

What the record cannot tell: a review keeps the reviewer's user name but not the groups they had, so a reviewer
who is not named by user among the profile's approvers or the admins is taken on the record's word when those
subjects include groups (the broker checked the groups when the review was made; the row's seal vouches for it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from kubejit.domain.durations import format_duration
from kubejit.domain.policy import AccessPolicy, Identity, Profile, Scope, Subjects
from kubejit.domain.workflow import AccessRequest, Extension, Review, State, Verdict

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_GRANTED = frozenset({State.APPROVED, State.ACTIVE})


def grant_problems(policy: AccessPolicy, request: AccessRequest) -> list[str]:
    """Why ``request`` is not a grant the current ``policy`` supports; empty when it is.

    Meant for approved and active requests; for others it says that they grant nothing."""
    if request.state not in _GRANTED:
        return [f"it is {request.state}, not approved or active"]
    profile = policy.profile(request.profile)
    if profile is None:
        return [f"profile {request.profile} is not in the current policy"]
    return [
        *_requester_problems(profile, request),
        *_namespace_problems(profile, request.namespaces),
        *_duration_problems(policy, profile, request),
        *_approval_problems(policy, profile, request),
        *_extension_problems(policy, profile, request),
    ]


def _requester_problems(profile: Profile, request: AccessRequest) -> Iterable[str]:
    who = request.requester
    if request.break_glass:
        if profile.break_glass is None or not profile.break_glass.allowed.includes(who):
            yield f"{who.user} may not break the glass for profile {profile.name}"
    elif not profile.requesters.includes(who):
        yield f"{who.user} (groups {', '.join(sorted(who.groups)) or 'none'}) may not request profile {profile.name}"


def _namespace_problems(profile: Profile, namespaces: tuple[str, ...]) -> Iterable[str]:
    if profile.scope is Scope.CLUSTER:
        if namespaces:
            yield f"profile {profile.name} is cluster-wide but the grant names namespaces {', '.join(namespaces)}"
        return
    if not namespaces:
        yield f"profile {profile.name} is namespaced but the grant names no namespace"
    if len(set(namespaces)) != len(namespaces):
        yield "the grant names a namespace twice"
    for namespace in namespaces:
        if not _NAMESPACE.fullmatch(namespace) or len(namespace) > 63:
            yield f"{namespace!r} is not a namespace name"
        elif not profile.allows_namespace(namespace):
            yield f"profile {profile.name} does not cover namespace {namespace}"


def _duration_limit(policy: AccessPolicy, profile: Profile, request: AccessRequest) -> timedelta:
    if request.break_glass and profile.break_glass is not None and profile.break_glass.max_duration is not None:
        return profile.break_glass.max_duration
    return policy.max_duration_of(profile)


def _duration_problems(policy: AccessPolicy, profile: Profile, request: AccessRequest) -> Iterable[str]:
    limit = _duration_limit(policy, profile, request)
    if request.duration <= timedelta(0):
        yield "the grant's duration is not positive"
    elif request.duration > limit:
        longer = format_duration(request.duration)
        yield f"{longer} is longer than profile {profile.name} allows ({format_duration(limit)})"
    if request.state is not State.ACTIVE:
        return
    if request.starts_at is None or request.ends_at is None:
        yield "it is active without a start and an end time"
        return
    lasts = request.ends_at - request.starts_at
    extended = request.duration + sum(
        (e.duration for e in request.extensions if e.state is State.APPROVED), timedelta()
    )
    if lasts > extended:
        yield (
            f"it lasts {format_duration(lasts)} from its start to its end, more than its duration and approved "
            f"extensions ({format_duration(extended)})"
        )
    cap = limit if request.break_glass else policy.max_extended_duration_of(profile)
    if lasts > cap:
        yield f"it lasts {format_duration(lasts)}, more than profile {profile.name} allows ({format_duration(cap)})"


def _approval_problems(policy: AccessPolicy, profile: Profile, request: AccessRequest) -> Iterable[str]:
    if request.break_glass:
        return  # eligibility is the requester check; the review comes after the fact
    if any(r.verdict is Verdict.DENY for r in request.reviews):
        yield "it carries a denial"
    if request.auto_approved:
        if not profile.approval.auto_approve.includes(request.requester):
            yield f"{request.requester.user} is not auto-approved for profile {profile.name}"
        elif (too_long := profile.approval.auto_approve_too_long(request.duration)) is not None:
            yield f"it was auto-approved, but {too_long}"
        return
    yield from _quorum_problems(policy, profile, request, request.reviews, "it")


def _quorum_problems(
    policy: AccessPolicy, profile: Profile, request: AccessRequest, reviews: tuple[Review, ...], what: str
) -> Iterable[str]:
    approvers: set[str] = set()
    for review in reviews:
        if review.verdict is not Verdict.APPROVE:
            continue
        if review.reviewer == request.requester.user and not profile.approval.allow_self_approval:
            yield f"{what} is approved by its own requester {review.reviewer}"
        elif not _may_have_reviewed(policy, profile, review.reviewer):
            yield f"{review.reviewer} may not review profile {profile.name}"
        else:
            approvers.add(review.reviewer)
    if len(approvers) < profile.approval.required:
        yield (
            f"{what} has {len(approvers)} eligible distinct approver(s); profile {profile.name} needs "
            f"{profile.approval.required}"
        )


def _may_have_reviewed(policy: AccessPolicy, profile: Profile, reviewer: str) -> bool:
    """Named by user among the approvers or admins; or, where those include groups, not decidable from the record
    (the reviewer's groups are not kept) and so accepted."""
    subjects: tuple[Subjects, ...] = (profile.approval.approvers, policy.admins)
    if any(s.includes(Identity(reviewer)) for s in subjects):
        return True
    return any(s.groups for s in subjects)


def _extension_problems(policy: AccessPolicy, profile: Profile, request: AccessRequest) -> Iterable[str]:
    approved = [e for e in request.extensions if e.state is State.APPROVED]
    if approved and request.break_glass:
        yield "a break-glass grant carries an extension"
    lasting = request.duration
    for number, extension in enumerate(approved, start=1):
        lasting += extension.duration
        yield from _one_extension_problems(policy, profile, request, extension, f"extension {number}", lasting)


def _one_extension_problems(
    policy: AccessPolicy, profile: Profile, request: AccessRequest, extension: Extension, what: str, lasting: timedelta
) -> Iterable[str]:
    """``lasting``: the grant's whole life up to and with this extension (what autoApprove.maxDuration caps)."""
    if extension.duration <= timedelta(0):
        yield f"{what} is not positive"
    if extension.auto_approved:
        if not profile.approval.auto_approve.includes(request.requester):
            yield f"{what} is auto-approved but {request.requester.user} is not auto-approved for {profile.name}"
        elif (too_long := profile.approval.auto_approve_too_long(lasting)) is not None:
            yield f"{what} was auto-approved, but the grant's {too_long}"
        return
    yield from _quorum_problems(policy, profile, request, extension.reviews, what)
