"""What the console's pages show of profiles and requests, computed once per page from the broker's own answers.

A profile is shown as ``GET /api/v1/profiles`` describes it (``profile_out``: limits, approvers, break-glass,
guardrails) plus its effective RBAC rules and their risk findings (``services.policy_review.review_profile``, the
same review that let the policy load). A request carries the notes the API adds (what it waits for, from whom)
and the reviews the viewer may decide now (``domain.pending_reviews.reviews_open_to``). Called by the page
modules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubejit.domain.pending_reviews import PendingReview, pending_reviews, reviews_open_to, waiting_note
from kubejit.domain.policy import AccessPolicy, Identity, Profile
from kubejit.domain.rbac_risk import Finding
from kubejit.domain.rightsize import rule_as_written
from kubejit.domain.workflow import ENDED, AccessRequest, State
from kubejit.entrypoints.api.routes.profiles import ProfileOut, profile_out, requestable_by
from kubejit.services.policy_review import review_profile

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

HISTORY_SHOWN = 5


@dataclass(frozen=True)
class RuleView:
    api_groups: str
    resources: str
    verbs: str


@dataclass(frozen=True)
class ProfileView:
    out: ProfileOut
    rules: tuple[RuleView, ...] | None  # None: not known (the role could not be read)
    findings: tuple[Finding, ...]
    accepted: frozenset[str]  # ids of blocking findings the policy accepts (allowRisks)

    @property
    def name(self) -> str:
        return self.out.name

    @property
    def worst(self) -> str:
        """The worst severity among the findings, or "none"."""
        ranked = sorted(self.findings, key=lambda f: f.severity.rank, reverse=True)
        return str(ranked[0].severity) if ranked else "none"


def _rule_view(written: dict[str, list[str]]) -> RuleView:
    if "nonResourceURLs" in written:
        return RuleView("(non-resource URLs)", ", ".join(written["nonResourceURLs"]), ", ".join(written["verbs"]))
    groups = ", ".join(g or "core" for g in written["apiGroups"])
    resources = ", ".join(written["resources"])
    if written.get("resourceNames"):
        resources += f" (named: {', '.join(written['resourceNames'])})"
    return RuleView(groups, resources, ", ".join(written["verbs"]))


def profile_view(broker: Broker, policy: AccessPolicy, profile: Profile, who: Identity) -> ProfileView:
    review = review_profile(profile, broker.policy.role_rules)
    assessment = review.assessment
    rules = None if review.rules is None else tuple(_rule_view(rule_as_written(r)) for r in review.rules)
    return ProfileView(
        profile_out(policy, profile, who),
        rules,
        assessment.findings if assessment else (),
        frozenset(f.id for f in assessment.accepted) if assessment else frozenset(),
    )


def requestable_views(broker: Broker, who: Identity) -> list[ProfileView]:
    """The profiles ``who`` may request (or break the glass on), as the profiles API lists them."""
    policy = broker.access.policy()
    return [profile_view(broker, policy, p, who) for p in requestable_by(policy, who)]


@dataclass(frozen=True)
class RequestView:
    request: AccessRequest
    notes: tuple[str, ...]  # what it waits for, from whom
    open_to_me: tuple[PendingReview, ...] = ()
    history: tuple[AccessRequest, ...] = ()  # the requester's recent other requests the viewer can see
    profile: ProfileView | None = None

    @property
    def ended(self) -> bool:
        return self.request.state in ENDED

    @property
    def active(self) -> bool:
        return self.request.state is State.ACTIVE


def request_view(broker: Broker, request: AccessRequest, who: Identity) -> RequestView:
    policy = broker.access.policy()
    notes = tuple(waiting_note(r) for r in pending_reviews(policy, request))
    return RequestView(request, notes, reviews_open_to(policy, request, who))


@dataclass
class Inbox:
    """What waits for the viewer's review, each with what it would allow and the requester's recent history."""

    items: list[RequestView] = field(default_factory=list)


def inbox(broker: Broker, who: Identity) -> Inbox:
    policy = broker.access.policy()
    waiting = broker.access.list(who, reviewable=True)
    by_requester: dict[str, list[AccessRequest]] = defaultdict(list)
    if waiting:
        for seen in broker.access.list(who):
            by_requester[seen.requester.user].append(seen)
    items = []
    for request in waiting:
        profile = policy.profile(request.profile)
        history = _history(by_requester[request.requester.user], request.id)
        items.append(
            RequestView(
                request,
                tuple(waiting_note(r) for r in pending_reviews(policy, request)),
                reviews_open_to(policy, request, who),
                history,
                profile_view(broker, policy, profile, request.requester) if profile else None,
            )
        )
    return Inbox(items)


def _history(requests: Sequence[AccessRequest], leave_out: str) -> tuple[AccessRequest, ...]:
    others = sorted((r for r in requests if r.id != leave_out), key=lambda r: r.created_at, reverse=True)
    return tuple(others[:HISTORY_SHOWN])


def split_mine(requests: Sequence[AccessRequest]) -> tuple[list[AccessRequest], list[AccessRequest]]:
    """(live, ended), newest first: pending, approved and active requests apart from the history."""
    ordered = sorted(requests, key=lambda r: r.created_at, reverse=True)
    return [r for r in ordered if r.state not in ENDED], [r for r in ordered if r.state in ENDED]
