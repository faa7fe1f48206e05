"""What the console shows of one audit event: a one-line summary, and for an exec session the output it printed.

Used by the live page (``_live``, also as the JSON its event stream sends), a grant's timeline (``_timeline``)
and the audit search (``_audit_search``). Recorded data is shown exactly as recorded and only ever as text: the
templates autoescape it, and the stream's JSON is put into the page with ``textContent`` by ``console.js``, so
output an exec session printed (``<script>`` included) never becomes markup. What the gateway records
(``entrypoints/gateway/_upgrade.py``): ``activity.exec`` when an exec starts (its command),
``activity.session-closed`` when it ends (why, byte counts, and up to 64 KiB of what it printed as UTF-8 text,
``truncated`` beyond that).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubejit.domain.audit import AuditEvent, AuditKind

LONG_OUTPUT_LINES = 12  # longer output is folded in a <details>
_SCALARS = (str, int, float, bool)
_SHOWN_FIELDS = ("profile", "namespaces", "duration", "reason", "comment", "message", "error", "approvers")


@dataclass(frozen=True)
class EventView:
    seq: int
    at: datetime
    kind: str
    actor: str
    request_id: str
    summary: str
    output: str | None = None  # what an exec session printed, as recorded (text, never markup)
    truncated: bool = False

    @property
    def alert(self) -> bool:
        return self.kind == AuditKind.ALERT_RAISED

    @property
    def tone(self) -> str:
        """The row's CSS class: alerts and refusals stand out."""
        if self.alert:
            return "alert"
        return "refused" if self.kind in (AuditKind.ACTIVITY_REFUSED, AuditKind.OPERATION_REFUSED) else "plain"

    @property
    def long_output(self) -> bool:
        return self.output is not None and self.output.count("\n") >= LONG_OUTPUT_LINES

    def to_json(self) -> dict[str, Any]:
        """What the live stream sends for this event (the output stays on the timeline page)."""
        return {
            "seq": self.seq,
            "at": self.at.strftime("%H:%M:%S"),
            "kind": self.kind,
            "actor": self.actor,
            "request": self.request_id,
            "summary": self.summary,
            "tone": self.tone,
        }


def event_view(event: AuditEvent) -> EventView:
    data = event.data
    output = data.get("output") if event.kind == AuditKind.ACTIVITY_SESSION_CLOSED else None
    return EventView(
        event.seq,
        event.at,
        event.kind,
        event.actor,
        event.request_id,
        summary_of(event.kind, data),
        str(output) if output else None,
        bool(data.get("truncated")),
    )


def summary_of(kind: str, data: Mapping[str, Any]) -> str:
    """One line for a person: the gateway's records as sentences, the broker's own events by their main facts."""
    if kind == AuditKind.ACTIVITY_REQUEST:
        return f"{data.get('method', '?')} {data.get('path', '?')} → {data.get('status', '?')}"
    if kind == AuditKind.ACTIVITY_REFUSED:
        return f"{data.get('method', '?')} {data.get('path', '?')} refused ({data.get('status', '?')}): " + str(
            data.get("reason", "")
        )
    if kind == AuditKind.ACTIVITY_EXEC:
        return f"exec {_command(data)} started"
    if kind == AuditKind.ACTIVITY_SESSION_CLOSED:
        return (
            f"exec {_command(data)} ended ({data.get('closed', '?')}): "
            f"{data.get('outputBytes', 0)} B out, {data.get('inputBytes', 0)} B in"
        )
    if kind == AuditKind.ALERT_RAISED:
        return f"ALERT {data.get('rule', '?')} ({data.get('action', 'notify')}): {data.get('summary', '')}"
    return _main_facts(data)


def _command(data: Mapping[str, Any]) -> str:
    command = data.get("command")
    if isinstance(command, list) and command:
        return shlex.join(str(part) for part in command)
    return str(data.get("path", "?"))


def _main_facts(data: Mapping[str, Any]) -> str:
    facts = []
    for name in _SHOWN_FIELDS:
        value = data.get(name)
        if isinstance(value, list) and value:
            value = ", ".join(str(v) for v in value)
        if isinstance(value, _SCALARS) and value != "":
            facts.append(f"{name}: {value}")
    return "; ".join(facts)
