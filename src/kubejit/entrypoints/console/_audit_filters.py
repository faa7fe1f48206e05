"""The audit search's filters, read from the query string of ``/console/audit`` and its exports, and the events
they select, page by page.

The filters are the audit API's (``GET /api/v1/audit``): kinds, actor, a request id or a unique start of one
(resolved by ``AccessService.resolve`` among the requests you can see), since, and ``after`` to page on; the one
the audit service's query does not take, ``until``, is applied here to what it returns. Who may search at all is
the audit service's rule (``AuditService.may_read_all``: auditors and admins), checked by :func:`require_reader`.
Called by ``_audit_search`` and ``_audit_export``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import takewhile
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query

from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput, Refused
from kubejit.entrypoints.console._web import SignedIn

KINDS = tuple(kind.value for kind in AuditKind)


@dataclass(frozen=True)
class AuditFilters:
    """The search as typed (shown back in the form), before it is checked."""

    kinds: tuple[str, ...] = ()
    actor: str = ""
    request: str = ""
    since: str = ""
    until: str = ""
    after: int = 0

    def query_string(self, **changes: object) -> str:
        """These filters as a query string, with ``changes`` (e.g. ``after=120``), empty ones left out."""
        fields = {"actor": self.actor, "request": self.request, "since": self.since, "until": self.until}
        fields.update({k: str(v) for k, v in changes.items() if k != "after"})
        pairs = [("kind", kind) for kind in self.kinds] + [(k, v) for k, v in fields.items() if v]
        after = changes.get("after", self.after)
        if after:
            pairs.append(("after", str(after)))
        return urlencode(pairs)


def audit_filters(
    kind: Annotated[list[str] | None, Query(max_length=64)] = None,
    actor: Annotated[str, Query(max_length=256)] = "",
    request: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[int, Query(ge=0)] = 0,
) -> AuditFilters:
    kinds = tuple(k for k in (kind or []) if k)
    return AuditFilters(kinds, actor.strip(), request.strip(), since.strip(), until.strip(), after)


Filters = Annotated[AuditFilters, Depends(audit_filters)]


@dataclass(frozen=True)
class Selection:
    """The checked search, ready for the audit service."""

    kinds: frozenset[str]
    actor: str | None
    request_id: str | None
    since: datetime | None
    until: datetime | None


def require_reader(visitor: SignedIn) -> None:
    if not visitor.broker.audit.may_read_all(visitor.who):
        raise Refused(
            "only auditors and admins may search the audit trail (your own requests' events are on their timelines)"
        )


def selection(visitor: SignedIn, filters: AuditFilters) -> Selection:
    """The filters checked: known kinds, times that parse, a request id that names one request you can see."""
    unknown = sorted(set(filters.kinds) - set(KINDS))
    if unknown:
        raise InvalidInput(f"unknown audit event kind {', '.join(unknown)}: pick kinds from the list")
    now = visitor.broker.clock.now()
    request_id = visitor.broker.access.resolve(visitor.who, filters.request) if filters.request else None
    return Selection(
        frozenset(filters.kinds),
        filters.actor or None,
        request_id,
        moment(filters.since, "since", now),
        moment(filters.until, "until", now),
    )


def moment(text: str, field: str, now: datetime) -> datetime | None:
    """A time as typed: ISO 8601 (without a zone: UTC, as the form's datetime-local fields send it) or a
    duration ago (30m, 2h, 7d)."""
    if not text:
        return None
    if text[0].isdigit() and ("-" in text or ":" in text):
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{field}: {text!r} is not a time: write 2026-11-28T12:00 (UTC) or a duration ago such as 2h"
            ) from None
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    try:
        return now - parse_duration(text)
    except InvalidInput:
        raise InvalidInput(
            f"{field}: {text!r} is neither a time (2026-11-28T12:00, UTC) nor a duration ago (2h)"
        ) from None


def pages(visitor: SignedIn, chosen: Selection, after: int, page: int) -> Iterator[list[AuditEvent]]:
    """The selected events after ``after``, a page (one audit service query) at a time, until the trail or the
    ``until`` bound ends (the chain is in time order, so the first event past ``until`` ends the search)."""
    audit = visitor.broker.audit
    while True:
        events = audit.query(
            visitor.who,
            request_id=chosen.request_id,
            user=chosen.actor,
            since=chosen.since,
            kinds=chosen.kinds,
            after=after,
            limit=page,
        )
        kept = list(takewhile(lambda e: chosen.until is None or e.at <= chosen.until, events))
        if kept:
            yield kept
        if len(events) < page or len(kept) < len(events):
            return
        after = events[-1].seq
