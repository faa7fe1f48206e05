"""Which gateway sessions (exec, attach, port-forward, watch) are open, told from the audit trail alone.

``services/live_sessions`` folds a grant's recorded activity through :func:`still_open` and rates each session
with :func:`standing`; the console's live page, ``GET /api/v1/sessions`` and ``kubejit sessions`` show the
result. Pure: events in, values out, the time a parameter.

What the gateway records (``entrypoints/gateway/_upgrade.py`` and ``proxy.py``): once kube-apiserver has switched
protocols, an exec (``activity.exec``, with its command), an attach or a port-forward (``activity.request``) with
``phase: start``; once kube-apiserver has answered a watch with a stream, the watch (``activity.request``, verb
``watch``) with ``phase: start``. When the stream ends, ``activity.session-closed`` (exec) or ``activity.request``
(the others) with ``phase: end``. Both carry the gateway process that holds the stream (``gatewayInstance``) and
the session's id (``session``); a start without an end is a session the trail says is open. Starts recorded
before gateways numbered their sessions are paired with ends in order, per gateway process, grant, kind and pod.

The trail cannot say that a stream is still open, only that its end has not been recorded. A gateway that
stops (a crash, a killed pod) takes its streams down with it and records no end. Two things tell it: the broker
hears from every live gateway process every few seconds (an activity batch, empty when there is nothing to
send), so a session whose gateway has been silent for :data:`GATEWAY_SILENCE` is rated *unconfirmed* at once; and
a session of a grant that has ended is rated *closing* for a short while (the gateway's cut-off closes it and
its record is on the way), then *unconfirmed*: nothing says it is open, and nothing says how it ended.
Port-forwards and watches recorded by gateways from before they recorded starts have no start: never listed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from kubejit.domain.audit import AuditEvent, AuditKind

SESSION_KINDS = frozenset({AuditKind.ACTIVITY_EXEC, AuditKind.ACTIVITY_REQUEST, AuditKind.ACTIVITY_SESSION_CLOSED})
STREAMS = {"pods/exec": "exec", "pods/attach": "attach", "pods/portforward": "port-forward"}  # upgraded
WATCH = "watch"  # a request with verb watch whose answer is a stream
# A live gateway delivers what it recorded within seconds (it refuses requests once activity waits longer than
# its maxDelay, 10 s by default): an end missing this long after the grant ended is not merely on its way.
CLOSING_GRACE = timedelta(seconds=30)
# A live gateway process sends the broker a batch at least every few seconds (adapters/broker_link: an empty one
# when idle): silent this long, it has most likely stopped, and its streams with it.
GATEWAY_SILENCE = timedelta(seconds=30)


class Standing(StrEnum):
    OPEN = "open"  # its grant is active, its gateway is heard from, and the gateway has not recorded its end
    CLOSING = "closing"  # its grant ended moments ago: the gateway is closing it and recording that
    UNCONFIRMED = "unconfirmed"  # its gateway went silent, or its grant ended long ago with no end recorded


@dataclass(frozen=True)
class SessionStart:
    """A session (exec, attach, port-forward or watch) as its start was recorded."""

    seq: int  # the start's place in the trail
    at: datetime
    grant_id: str
    user: str
    kind: str  # "exec", "attach", "port-forward" or "watch"
    namespace: str
    pod: str  # the pod of an exec, attach or port-forward; a watch's object name ("" for a collection)
    command: tuple[str, ...]  # an exec's command; () for an attach
    gateway: str  # the gateway process (``gatewayInstance``; its gateway's name when that was not sent)
    session: str  # the gateway's id of the session; "" from gateways that did not number sessions
    resource: str = ""  # as RBAC names it: "pods/exec", ..., or what a watch watches ("pods", "configmaps")

    @property
    def where(self) -> str:
        """What the session is on, for people: ``namespace/pod``; for a watch ``namespace/resource[/name]``."""
        parts = (self.namespace, self.resource, self.pod) if self.kind == WATCH else (self.namespace, self.pod)
        return "/".join(part for part in parts if part)

    @property
    def pairing(self) -> tuple[str, ...]:
        """What its end carries too: the session's id, else where it ran."""
        if self.session:
            return (self.gateway, self.session)
        return (self.gateway, self.grant_id, self.kind, self.namespace, self.pod)


@dataclass(frozen=True)
class LiveSession:
    start: SessionStart
    standing: Standing
    why: str  # the standing in words, for people


def _phase_of(event: AuditEvent) -> tuple[str, str] | None:
    """(phase, stream kind) of a session's start or end record; None for every other event."""
    data = event.data
    kind = STREAMS.get(str(data.get("resource", "")))
    if kind is None and data.get("verb") == WATCH:
        kind = WATCH
    phase = data.get("phase")
    if kind is None or phase not in ("start", "end") or event.kind not in SESSION_KINDS:
        return None
    return str(phase), kind


def _start_of(event: AuditEvent, kind: str) -> SessionStart:
    data = event.data
    command = data.get("command")
    return SessionStart(
        seq=event.seq,
        at=event.at,
        grant_id=event.request_id,
        user=event.actor,
        kind=kind,
        namespace=str(data.get("namespace") or ""),
        pod=str(data.get("name") or ""),
        command=tuple(str(part) for part in command) if isinstance(command, list) else (),
        gateway=str(data.get("gatewayInstance") or data.get("gateway") or ""),
        session=str(data.get("session") or ""),
        resource=str(data.get("resource") or ""),
    )


def still_open(events: Iterable[AuditEvent]) -> list[SessionStart]:
    """The sessions started in ``events`` (in trail order) whose end is not among them, oldest first."""
    open_by_pairing: dict[tuple[str, ...], deque[SessionStart]] = {}
    for event in events:
        found = _phase_of(event)
        if found is None:
            continue
        phase, kind = found
        start = _start_of(event, kind)  # an end carries the same fields; only its pairing is used
        if phase == "start":
            open_by_pairing.setdefault(start.pairing, deque()).append(start)
        elif waiting := open_by_pairing.get(start.pairing):
            waiting.popleft()
    return sorted((s for waiting in open_by_pairing.values() for s in waiting), key=lambda s: s.seq)


def standing(
    starts: Iterable[SessionStart],
    grant_ended: Mapping[str, datetime | None],
    now: datetime,
    grace: timedelta = CLOSING_GRACE,
    heard: Mapping[str, datetime] | None = None,
    silence: timedelta = GATEWAY_SILENCE,
) -> list[LiveSession]:
    """Each open session rated by its gateway's last word and its grant's end.

    ``grant_ended``: grant id -> when it ended, None while it is active; a grant missing from it counts as ended
    at the session's start, the least that can be assumed. ``heard``: gateway process -> when the broker last
    heard from it; a process missing from it (a gateway that does not name its process) is not judged by it."""
    heard = heard or {}
    return [
        _rated(start, grant_ended.get(start.grant_id, start.at), heard.get(start.gateway), now, grace, silence)
        for start in starts
    ]


def _rated(
    start: SessionStart,
    ended: datetime | None,
    last_heard: datetime | None,
    now: datetime,
    grace: timedelta,
    silence: timedelta,
) -> LiveSession:
    gateway = start.gateway or "(unnamed)"
    if last_heard is not None and now - last_heard >= silence:
        why = (
            f"gateway {gateway} has not been heard from since {last_heard:%H:%M:%S} UTC: that gateway process "
            "probably stopped, taking the stream with it"
        )
        return LiveSession(start, Standing.UNCONFIRMED, why)
    if ended is None:
        return LiveSession(start, Standing.OPEN, "no end recorded; its grant is active")
    if now - ended < grace:
        return LiveSession(start, Standing.CLOSING, "its grant ended: the gateway is closing it")
    why = (
        f"its grant ended at {ended:%H:%M:%S} UTC and gateway {gateway} never recorded "
        "the end: that gateway process probably stopped, taking the stream with it"
    )
    return LiveSession(start, Standing.UNCONFIRMED, why)


_GRANT_ENDS = frozenset({AuditKind.GRANT_REVOKED, AuditKind.GRANT_EXPIRED})


def moves_sessions(event: AuditEvent) -> bool:
    """Whether the event may change what :func:`still_open` and :func:`standing` say: a session's start or end,
    or a grant's end."""
    return event.kind in _GRANT_ENDS or _phase_of(event) is not None
