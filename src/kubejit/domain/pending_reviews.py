"""What a request still waits for from a reviewer: its own approval, an extension of its grant, or the review after
the fact that every break-glass grant needs.

The broker's ``list --pending`` (:class:`kubejit.services.access.AccessService`) asks which of these a caller may
decide, and the request routes put each :class:`PendingReview` in their answers (``awaiting``, and as prose by
:func:`waiting_note` in ``notes``), so ``kubejit request``, ``approve`` and ``extend`` can say who may approve and
how many approvals are still missing; the CLI reads ``awaiting`` back into a :class:`PendingReview` and words it
with the same :func:`waiting_note`. Pure: the policy and the request in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from kubejit.domain.durations import format_duration
from kubejit.domain.policy import AccessPolicy, Identity, Profile, Subjects
from kubejit.domain.workflow import AccessRequest, Review, State, Verdict, may_review


class ReviewKind(StrEnum):
    REQUEST = "request"
    EXTENSION = "extension"
    BREAK_GLASS = "break-glass"


@dataclass(frozen=True)
class PendingReview:
    """One decision a request waits for: who may make it (besides admins), how many approvals it takes and who
    gave one already."""

    kind: ReviewKind
    requester: str
    approvers: Subjects
    required: int
    approvals: tuple[str, ...] = ()
    reviewed_by: tuple[str, ...] = ()  # everyone who reviewed it already (an approver reviews once)
    extra: timedelta | None = None  # the time an extension adds
    self_approval: bool = False

    @property
    def label(self) -> str:
        """How people see it in a list: ``request``, ``extension +1h``, ``break-glass review``."""
        if self.kind is ReviewKind.EXTENSION and self.extra is not None:
            return f"extension +{format_duration(self.extra)}"
        return "break-glass review" if self.kind is ReviewKind.BREAK_GLASS else "request"

    def open_to(self, who: Identity, *, reviewer: bool) -> bool:
        """Whether ``who`` may decide it (``reviewer``: an approver of the profile, or an admin)."""
        if not reviewer or who.user in self.reviewed_by:
            return False
        return who.user != self.requester or (self.self_approval and self.kind is not ReviewKind.BREAK_GLASS)


def _review(
    kind: ReviewKind, profile: Profile, request: AccessRequest, reviews: tuple[Review, ...] = (), **more: Any
) -> PendingReview:
    approval = profile.approval
    return PendingReview(
        kind,
        requester=request.requester.user,
        approvers=approval.approvers,
        required=more.pop("required", approval.required),
        approvals=tuple(r.reviewer for r in reviews if r.verdict is Verdict.APPROVE),
        reviewed_by=tuple(r.reviewer for r in reviews),
        self_approval=approval.allow_self_approval,
        **more,
    )


def pending_reviews(policy: AccessPolicy, request: AccessRequest) -> tuple[PendingReview, ...]:
    """Every review ``request`` waits for now (none when its profile is gone from the policy)."""
    profile = policy.profile(request.profile)
    if profile is None:
        return ()
    found: list[PendingReview] = []
    if request.state is State.PENDING:
        found.append(_review(ReviewKind.REQUEST, profile, request, request.reviews))
    extension = request.pending_extension
    if request.state is State.ACTIVE and extension is not None:
        found.append(_review(ReviewKind.EXTENSION, profile, request, extension.reviews, extra=extension.duration))
    if request.break_glass and request.break_glass_review is None:
        found.append(_review(ReviewKind.BREAK_GLASS, profile, request, required=1))
    return tuple(found)


def reviews_open_to(policy: AccessPolicy, request: AccessRequest, who: Identity) -> tuple[PendingReview, ...]:
    """The reviews of ``request`` that ``who`` may decide now (not their own request, not twice)."""
    profile = policy.profile(request.profile)
    if profile is None:
        return ()
    reviewer = may_review(policy, profile, who)
    return tuple(r for r in pending_reviews(policy, request) if r.open_to(who, reviewer=reviewer))


def waiting_note(review: PendingReview) -> str:
    """For people: what the review waits for, from whom, and how far it got (``1 of 2 so far``)."""
    who = f"{review.approvers.describe()} (or an admin)"
    if review.kind is ReviewKind.BREAK_GLASS:
        return f"break-glass use: waiting for its review after the fact by {who}, not {review.requester}"
    what = "approval" if review.required == 1 else "approvals"
    subject = f"extension +{format_duration(review.extra)}" if review.extra is not None else "request"
    note = f"{subject} waiting for {review.required} {what} from {who}"
    if review.required > 1 or review.approvals:
        so_far = f" ({', '.join(review.approvals)})" if review.approvals else ""
        note += f": {len(review.approvals)} of {review.required} so far{so_far}"
    return note
