"""The audit trail's routes: query events, export the whole chain as JSON lines, verify it against its
checkpoint. ``kubejit audit`` and ``kubejit audit verify`` call them; who sees what is the AuditService's rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.domain.errors import InvalidInput
from kubejit.entrypoints.api.dependencies import BrokerDep, Caller
from kubejit.entrypoints.api.schemas import AuditEventOut, ProblemOut, VerifyOut

router = APIRouter(prefix="/api/v1/audit")


@router.get("", response_model=list[AuditEventOut])
def audit(
    who: Caller,
    broker: BrokerDep,
    request_id: Annotated[str | None, Query(alias="requestId")] = None,
    user: str | None = None,
    since: datetime | None = None,
    kind: Annotated[list[str] | None, Query(description="Only events of these kinds (repeat).")] = None,
    after: Annotated[int, Query(ge=0, description="Only events after this seq: the next page.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditEventOut]:
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since needs a time zone, e.g. 2026-11-28T12:00:00Z")
    kinds = checked_kinds(kind or [])
    if request_id is not None:
        request_id = broker.access.resolve(who, request_id)  # a unique start of an id is enough
    events = broker.audit.query(
        who, request_id=request_id, user=user, since=since, kinds=kinds, after=after, limit=limit
    )
    return [AuditEventOut.of(e) for e in events]


def checked_kinds(kinds: list[str]) -> frozenset[str]:
    """The kinds asked for, each one of AuditKind's values (InvalidInput naming the unknown ones and the known)."""
    unknown = sorted(set(kinds) - {k.value for k in AuditKind})
    if unknown:
        known = ", ".join(k.value for k in AuditKind)
        raise InvalidInput(f"unknown audit event kind {', '.join(unknown)}: the kinds are {known}")
    return frozenset(kinds)


@router.get("/export", response_class=StreamingResponse)
def audit_export(who: Caller, broker: BrokerDep) -> StreamingResponse:
    events = broker.audit.export(who)
    first = next(events, None)  # raises Refused here, before the response starts
    return StreamingResponse(_json_lines(first, events), media_type="application/x-ndjson")


def _json_lines(first: AuditEvent | None, rest: Iterator[AuditEvent]) -> Iterator[bytes]:
    if first is not None:
        yield json.dumps(first.to_json(), sort_keys=True).encode() + b"\n"
    for event in rest:
        yield json.dumps(event.to_json(), sort_keys=True).encode() + b"\n"


@router.get("/verify", response_model=VerifyOut)
def audit_verify(who: Caller, broker: BrokerDep) -> VerifyOut:
    result = broker.audit.verify(who)
    return VerifyOut(
        ok=result.ok,
        events=result.events,
        head_seq=result.head.seq if result.head else 0,
        head_hash=result.head.hash if result.head else "",
        checkpoint_seq=result.checkpoint.seq if result.checkpoint else None,
        problems=[ProblemOut(seq=p.seq, kind=str(p.kind), message=p.message) for p in result.problems],
    )
