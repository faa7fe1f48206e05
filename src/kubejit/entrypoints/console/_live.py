"""Active grants and the live tail of activity: ``/console/live`` and its event stream ``/console/live/stream``.

The grants are the access service's list of active requests the visitor may see (``AccessService.list``, as
``GET /api/v1/requests?state=active``: your own, those of profiles you approve, all of them for admins and
auditors); each has the forms to revoke it or (your own) ask for more time, which post to the request's routes
in ``_my_requests``. The activity is the audit trail as the audit service shows it to the visitor
(``AuditService.query``: everything for auditors and admins, the events of your own requests otherwise): what
gateways recorded (requests, refusals, exec sessions) and the alerts the anomaly watch raised.

The page works without JavaScript (the newest events of the last hour and a refresh link); ``console.js`` opens
the stream with EventSource and adds each new event at the top. The stream is server-sent events: it reads the
events after the last one it sent whenever the broker's audit signal rings (``_bell``: at once after each commit
in this process) and every few seconds anyway (commits of other replicas), sends each as ``event: audit`` with
its ``seq`` as the id (a reconnecting browser sends ``Last-Event-ID`` and resumes there), and ends after a few
minutes or when the session does, so that the reconnection checks the session and the visibility again.
The open gateway sessions (``_live_sessions``) are listed above the activity and sent again on the same
stream, as one ``event: sessions`` message, whenever their list changes.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from kubejit.domain.audit import AuditKind
from kubejit.domain.live_sessions import moves_sessions
from kubejit.domain.workflow import State
from kubejit.entrypoints.console._bell import AuditBell
from kubejit.entrypoints.console._event_views import EventView, event_view
from kubejit.entrypoints.console._live_sessions import SessionsFeed, session_rows
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, SignedIn, Visitor, broker_of, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)

LIVE_KINDS = frozenset(kind for kind in AuditKind if kind.is_activity) | {AuditKind.ALERT_RAISED}
RECENT = timedelta(hours=1)  # what the page shows before the stream takes over
SHOWN = 50
PAGE = 1000
MAX_PAGES = 20  # the page reads at most this many pages of the last hour
REREAD_SECONDS = 2.0  # the stream reads again this often without a ring (other replicas' commits)
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0  # then the browser reconnects, and the session is checked again


def bell_of(request: Request) -> AuditBell:
    """The app's bell, listening to the broker's audit signal from its first use on."""
    bell: AuditBell | None = getattr(request.app.state, "console_bell", None)
    if bell is None:
        bell = AuditBell()
        broker_of(request).audit_moved.listen(bell.ring)
        request.app.state.console_bell = bell
    return bell


def newer(visitor: SignedIn, after: int, since: datetime | None) -> tuple[list[EventView], int, bool]:
    """The activity and alerts the visitor may see after event ``after`` (or, from the start, since ``since``),
    the seq to read on from (the last visible event read, of any kind), and whether any of the events read may
    change the open sessions (``_live_sessions``)."""
    events = visitor.broker.audit.query(visitor.who, since=since if after <= 0 else None, after=after, limit=PAGE)
    cursor = events[-1].seq if events else after
    moved = any(moves_sessions(e) for e in events)
    return [event_view(e) for e in events if e.kind in LIVE_KINDS], cursor, moved


def recent(visitor: SignedIn, now: datetime) -> tuple[list[EventView], int]:
    """The newest SHOWN events of the last hour, newest first, and the seq the stream reads on from."""
    shown: deque[EventView] = deque(maxlen=SHOWN)
    cursor = 0
    for _ in range(MAX_PAGES):
        views, read_to, _ = newer(visitor, cursor, now - RECENT)
        shown.extend(views)
        if read_to == cursor:
            break
        cursor = read_to
    return list(reversed(shown)), cursor


@router.get("/live")
def live_page(visitor: Visitor) -> Response:
    grants = visitor.broker.access.list(visitor.who, states=[State.ACTIVE])
    grants.sort(key=lambda r: (r.ends_at or datetime.max.replace(tzinfo=UTC), r.id))
    now = visitor.broker.clock.now()
    events, cursor = recent(visitor, now)
    stream = f"{PREFIX}/live/stream?after={cursor}&since={int(now.timestamp())}"
    return render(
        "live.html",
        visitor,
        title="Active grants and live activity",
        grants=grants,
        sessions=session_rows(visitor),
        events=events,
        stream=stream,
    )


@router.get("/live/stream", response_class=StreamingResponse)
async def live_stream(
    request: Request,
    visitor: Visitor,
    after: Annotated[int, Query(ge=0)] = 0,
    since: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    """Server-sent events: each new activity event or alert the visitor may see, as it is appended."""
    if last_event_id is not None and last_event_id.isdigit():
        after = int(last_event_id)
    start = datetime.fromtimestamp(since, UTC) if since is not None else visitor.broker.clock.now()
    events = _stream(visitor, bell_of(request), after, start)
    return StreamingResponse(events, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


async def _stream(visitor: SignedIn, bell: AuditBell, after: int, since: datetime) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    ends = min(time.monotonic() + STREAM_SECONDS, time.monotonic() + visitor.session.expires_at - time.time())
    quiet_since = time.monotonic()
    sessions = SessionsFeed(visitor)
    while time.monotonic() < ends:
        with bell.listening() as waiter:
            views, cursor, moved = await anyio.to_thread.run_sync(newer, visitor, after, since)
            if changed := await sessions.update(moved):
                yield changed
                quiet_since = time.monotonic()
            if cursor != after or views:
                yield _message(views, cursor)
                after, quiet_since = cursor, time.monotonic()
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                yield b": still here\n\n"
                quiet_since = time.monotonic()
            await waiter.wait(min(REREAD_SECONDS, max(ends - time.monotonic(), 0)))


def _message(views: list[EventView], cursor: int) -> bytes:
    """The events as ``audit`` messages, then the cursor as the last event id (an id-only message)."""
    lines = [f"event: audit\nid: {v.seq}\ndata: {json.dumps(v.to_json())}\n\n" for v in views]
    return ("".join(lines) + f"id: {cursor}\n\n").encode()
