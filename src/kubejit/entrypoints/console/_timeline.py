"""A grant's timeline: ``/console/requests/{id}/timeline``, its whole story from the audit trail.

Request, reviews, activation, what was done with the grant through the gateways (requests, refusals, exec sessions
with what they printed), alerts, and its end, in the order the chain recorded them. Whether you see the request is
the access service's decision (``AccessService.get``: 404 otherwise), and which of its events you see is the
audit service's (``AuditService.query`` with its request id: its requester, auditors and admins see them; an
approver sees the request but not its trail). Recorded output is shown as text (autoescaped, in ``<pre>``),
long output folded in a ``<details>``. Long stories page on with ``?after=SEQ`` as the audit API does.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Response

from kubejit.domain.audit import AuditKind
from kubejit.entrypoints.console._event_views import event_view
from kubejit.entrypoints.console._my_requests import RequestId
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, Visitor, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
PAGE = 500
_COUNTED: dict[str, str] = {
    AuditKind.ACTIVITY_REQUEST: "requests",
    AuditKind.ACTIVITY_REFUSED: "refusals",
    AuditKind.ACTIVITY_EXEC: "exec sessions",
    AuditKind.ALERT_RAISED: "alerts",
}


@router.get("/requests/{request_id}/timeline")
def timeline(request_id: RequestId, visitor: Visitor, after: Annotated[int, Query(ge=0)] = 0) -> Response:
    broker, who = visitor.broker, visitor.who
    request = broker.access.get(who, request_id)
    events = broker.audit.query(who, request_id=request.id, after=after, limit=PAGE + 1)
    more = len(events) > PAGE
    views = [event_view(e) for e in events[:PAGE]]
    counts = Counter(_COUNTED[v.kind] for v in views if v.kind in _COUNTED)
    return render(
        "timeline.html",
        visitor,
        title=f"Timeline of {request.id}",
        request=request,
        events=views,
        counts=sorted(counts.items()),
        after=after,
        next_after=views[-1].seq if more else None,
    )
