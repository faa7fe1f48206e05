"""How an :class:`~kubejit.domain.workflow.AccessRequest` is written into the ``requests.document`` column.

The store keeps the whole request as one JSON document, so a new field in the domain needs no new column (only
a line here), while the columns beside it serve the queries. The form is plain and stable: times as ISO-8601 in
UTC with microseconds (the same text as the audit trail), durations as seconds, sets as sorted lists, enums as
their values. Decoding is strict: a document that does not have the expected shape raises ``ValueError``
naming the field, rather than producing a half-filled request. Reading back what was written gives an equal
request (the tests check this for arbitrary requests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.audit import timestamp
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import AccessRequest, Extension, Review, State, Verdict

FORMAT = 1  # bump, and keep reading the older form, if the document ever changes incompatibly


# ---- writing ----------------------------------------------------------------------------------------------------


def _seconds(duration: timedelta) -> int | float:
    whole = duration.days * 86_400 + duration.seconds
    return whole if not duration.microseconds else whole + duration.microseconds / 1_000_000


def _time(at: datetime | None) -> str | None:
    return None if at is None else timestamp(at)


def _review(review: Review) -> dict[str, Any]:
    return {
        "reviewer": review.reviewer,
        "verdict": review.verdict.value,
        "at": timestamp(review.at),
        "comment": review.comment,
    }


def _extension(extension: Extension) -> dict[str, Any]:
    return {
        "duration_seconds": _seconds(extension.duration),
        "reason": extension.reason,
        "requested_at": timestamp(extension.requested_at),
        "state": extension.state.value,
        "reviews": [_review(r) for r in extension.reviews],
        "auto_approved": extension.auto_approved,
    }


def _requester(who: Identity) -> dict[str, Any]:
    """User and groups; the policy claims only when there are some (rows written before claims read the same)."""
    document: dict[str, Any] = {"user": who.user, "groups": sorted(who.groups)}
    if who.claims:
        document["claims"] = dict(who.claims)
    return document


def to_document(request: AccessRequest) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": request.id,
        "requester": _requester(request.requester),
        "profile": request.profile,
        "namespaces": list(request.namespaces),
        "duration_seconds": _seconds(request.duration),
        "reason": request.reason,
        "created_at": timestamp(request.created_at),
        "state": request.state.value,
        "reviews": [_review(r) for r in request.reviews],
        "auto_approved": request.auto_approved,
        "break_glass": request.break_glass,
        "break_glass_review": None if request.break_glass_review is None else _review(request.break_glass_review),
        "approved_at": _time(request.approved_at),
        "starts_at": _time(request.starts_at),
        "ends_at": _time(request.ends_at),
        "ended_at": _time(request.ended_at),
        "ended_by": request.ended_by,
        "end_reason": request.end_reason,
        "extensions": [_extension(e) for e in request.extensions],
    }


def dumps(request: AccessRequest) -> str:
    return json.dumps(to_document(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---- reading ----------------------------------------------------------------------------------------------------


def _field(document: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in document:
        raise ValueError(f"request document has no field {name!r}")
    value = document[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"request document field {name!r} has the wrong type {type(value).__name__}")
    return value


def _str(document: Mapping[str, Any], name: str) -> str:
    value: str = _field(document, name, str)
    return value


def _bool(document: Mapping[str, Any], name: str) -> bool:
    value: bool = _field(document, name, bool)
    return value


def _list(document: Mapping[str, Any], name: str) -> list[Any]:
    value: list[Any] = _field(document, name, list)
    return value


def _strings(document: Mapping[str, Any], name: str) -> list[str]:
    values = _list(document, name)
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"request document field {name!r} must be a list of strings")
    return values


def _object(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value: Mapping[str, Any] = _field(document, name, dict)
    return value


def _parse_time(text: str, name: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"request document field {name!r} is a time without a timezone: {text}")
    return at


def _read_time(document: Mapping[str, Any], name: str) -> datetime:
    return _parse_time(_str(document, name), name)


def _read_optional_time(document: Mapping[str, Any], name: str) -> datetime | None:
    value = _field(document, name, (str, type(None)))
    return None if value is None else _parse_time(value, name)


def _read_duration(document: Mapping[str, Any], name: str) -> timedelta:
    seconds: int | float = _field(document, name, (int, float))
    return timedelta(seconds=seconds)


def _as_object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"request document: each of {where!r} must be an object")
    return value


def _read_review(value: object, where: str) -> Review:
    document = _as_object(value, where)
    return Review(
        reviewer=_str(document, "reviewer"),
        verdict=Verdict(_str(document, "verdict")),
        at=_read_time(document, "at"),
        comment=_str(document, "comment"),
    )


def _read_extension(value: object) -> Extension:
    document = _as_object(value, "extensions")
    return Extension(
        duration=_read_duration(document, "duration_seconds"),
        reason=_str(document, "reason"),
        requested_at=_read_time(document, "requested_at"),
        state=State(_str(document, "state")),
        reviews=tuple(_read_review(r, "extensions.reviews") for r in _list(document, "reviews")),
        auto_approved=_bool(document, "auto_approved"),
    )


def _read_requester(document: Mapping[str, Any]) -> Identity:
    claims = _field(document, "claims", dict) if "claims" in document else {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in claims.items()):
        raise ValueError("request document field 'requester.claims' must map claim names to text")
    return Identity(_str(document, "user"), frozenset(_strings(document, "groups")), tuple(sorted(claims.items())))


def from_document(document: Mapping[str, Any]) -> AccessRequest:
    version = _field(document, "format", int)
    if version != FORMAT:
        raise ValueError(f"request document has format {version}; this kubejit reads format {FORMAT}: upgrade it")
    requester = _object(document, "requester")
    review = _field(document, "break_glass_review", (dict, type(None)))
    return AccessRequest(
        id=_str(document, "id"),
        requester=_read_requester(requester),
        profile=_str(document, "profile"),
        namespaces=tuple(_strings(document, "namespaces")),
        duration=_read_duration(document, "duration_seconds"),
        reason=_str(document, "reason"),
        created_at=_read_time(document, "created_at"),
        state=State(_str(document, "state")),
        reviews=tuple(_read_review(r, "reviews") for r in _list(document, "reviews")),
        auto_approved=_bool(document, "auto_approved"),
        break_glass=_bool(document, "break_glass"),
        break_glass_review=None if review is None else _read_review(review, "break_glass_review"),
        approved_at=_read_optional_time(document, "approved_at"),
        starts_at=_read_optional_time(document, "starts_at"),
        ends_at=_read_optional_time(document, "ends_at"),
        ended_at=_read_optional_time(document, "ended_at"),
        ended_by=_str(document, "ended_by"),
        end_reason=_str(document, "end_reason"),
        extensions=tuple(_read_extension(e) for e in _list(document, "extensions")),
    )


def loads(text: str) -> AccessRequest:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a request document must be a JSON object")
    return from_document(document)
