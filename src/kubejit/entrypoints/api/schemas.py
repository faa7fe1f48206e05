"""The API's wire formats. Field names are camelCase on the wire; durations are Go-style strings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kubejit.domain.audit import AuditEvent
from kubejit.domain.durations import format_duration
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
    notes: list[str] = []  # for the requester, in the answer to a new request: e.g. why it was not auto-approved

    @classmethod
    def of(cls, r: AccessRequest) -> RequestOut:
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
