"""The API's wire formats. Field names are camelCase on the wire; durations are Go-style strings.

The routes build their answers with these models; the CLI reads the same shapes (``docs/cli.md`` documents them
for scripts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kubejit.domain.audit import AuditEvent
from kubejit.domain.durations import format_duration
from kubejit.domain.pending_reviews import PendingReview, ReviewKind
from kubejit.domain.policy import Subjects
from kubejit.domain.workflow import AccessRequest, Extension, Review


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class RequestIn(_In):
    profile: str = Field(min_length=1, max_length=63)
    namespaces: list[Annotated[str, Field(max_length=63)]] = Field(default=[], max_length=50)
    duration: str | None = Field(
        default=None, max_length=32, description="Go-style duration such as 30m; default: the profile's"
    )
    reason: str = Field(default="", max_length=2000)
    break_glass: bool = False


class CommentIn(_In):
    comment: str = Field(default="", max_length=2000)


class RevokeIn(_In):
    reason: str = Field(default="", max_length=2000)


class ExtendIn(_In):
    duration: str = Field(max_length=32, description="how much longer, e.g. 15m")
    reason: str = Field(default="", max_length=2000)


class ReviewOut(_Out):
    reviewer: str
    verdict: str
    at: datetime
    comment: str

    @classmethod
    def of(cls, review: Review) -> ReviewOut:
        return cls(reviewer=review.reviewer, verdict=str(review.verdict), at=review.at, comment=review.comment)


class ExtensionOut(_Out):
    duration: str
    reason: str
    requested_at: datetime
    state: str
    reviews: list[ReviewOut]

    @classmethod
    def of(cls, extension: Extension) -> ExtensionOut:
        return cls(
            duration=format_duration(extension.duration),
            reason=extension.reason,
            requested_at=extension.requested_at,
            state=str(extension.state),
            reviews=[ReviewOut.of(r) for r in extension.reviews],
        )


class ApproversOut(_Out):
    """Who may approve (admins always may, too): any user named, any member of a group named, or a workload
    whose token's claims match every pattern of one entry of ``claims`` (shell-style patterns)."""

    users: list[str]
    groups: list[str]
    claims: list[dict[str, str]] = Field(description="each: claim name -> pattern; all of one entry must match")

    @classmethod
    def of(cls, subjects: Subjects) -> ApproversOut:
        return cls(
            users=sorted(subjects.users),
            groups=sorted(subjects.groups),
            claims=[dict(match.patterns) for match in subjects.claims],
        )


class AwaitingOut(_Out):
    """One review a request waits for now: its approval, an extension of its grant, or the review after the fact
    of a break-glass use (never by its own user)."""

    kind: ReviewKind
    approvers: ApproversOut
    required: int = Field(description="how many approvals it takes (1 for a break-glass review)")
    approvals: int = Field(description="how many it has so far")
    by: list[str] = Field(description="who approved so far, in order")
    duration: str | None = Field(description="for an extension: the time it adds; otherwise null")

    @classmethod
    def of(cls, review: PendingReview) -> AwaitingOut:
        return cls(
            kind=review.kind,
            approvers=ApproversOut.of(review.approvers),
            required=review.required,
            approvals=len(review.approvals),
            by=list(review.approvals),
            duration=format_duration(review.extra) if review.extra is not None else None,
        )


class RequestOut(_Out):
    id: str
    state: str
    requester: str
    groups: list[str]
    profile: str
    namespaces: list[str]
    duration: str
    reason: str
    created_at: datetime
    approved_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    ended_at: datetime | None
    ended_by: str
    end_reason: str
    auto_approved: bool
    break_glass: bool
    break_glass_review: ReviewOut | None
    reviews: list[ReviewOut]
    extensions: list[ExtensionOut]
    awaiting: list[AwaitingOut] = Field(
        default=[], description="the reviews it waits for now, with who may decide them and how far they got"
    )
    notes: list[str] = []  # for people: what it waits for, as prose; on a new request: why not auto-approved

    @classmethod
    def of(cls, r: AccessRequest, awaiting: Sequence[PendingReview] = ()) -> RequestOut:
        return cls(
            id=r.id,
            state=str(r.state),
            requester=r.requester.user,
            groups=sorted(r.requester.groups),
            profile=r.profile,
            namespaces=list(r.namespaces),
            duration=format_duration(r.duration),
            reason=r.reason,
            created_at=r.created_at,
            approved_at=r.approved_at,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            ended_at=r.ended_at,
            ended_by=r.ended_by,
            end_reason=r.end_reason,
            auto_approved=r.auto_approved,
            break_glass=r.break_glass,
            break_glass_review=ReviewOut.of(r.break_glass_review) if r.break_glass_review else None,
            reviews=[ReviewOut.of(v) for v in r.reviews],
            extensions=[ExtensionOut.of(e) for e in r.extensions],
            awaiting=[AwaitingOut.of(review) for review in awaiting],
        )


class AuditEventOut(_Out):
    seq: int
    at: datetime
    kind: str
    actor: str
    request_id: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            seq=e.seq,
            at=e.at,
            kind=e.kind,
            actor=e.actor,
            request_id=e.request_id,
            data=dict(e.data),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )


class ProblemOut(_Out):
    seq: int
    kind: str
    message: str


class VerifyOut(_Out):
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    checkpoint_seq: int | None
    problems: list[ProblemOut]


class LoginIssuerOut(_Out):
    """One issuer ``kubejit login`` may sign people in at."""

    name: str
    issuer: str
    client_id: str
    scopes: list[str]
    client_secret: str | None
    certificate_authority_data: str | None  # base64 of the PEM the broker trusts for this issuer, if any
    username_prefix: str
    groups_prefix: str


class LoginOptionsOut(_Out):
    issuers: list[LoginIssuerOut]


class ErrorOut(_Out):
    type: str
    message: str


class ErrorEnvelope(_Out):
    error: ErrorOut
