"""One audit event as a line (or a few) for a person reading ``kubejit audit``.

What the gateway records is written for machines (method, path, status, byte counts, its own numbering); an
auditor reading a grant's trail wants "GET /api/v1/.../pods/app -> 200" and, for an exec session, the command
and what it printed. Events kubejit has no special wording for show their data as key=value pairs. The JSON
output (-o json) is always the complete record.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Any

from kubejit.domain.audit import AuditKind

MAX_OUTPUT_LINES = 20


def describe(kind: str, data: Mapping[str, Any]) -> str:
    """The line(s) for one event; kinds this version does not know (a newer broker) show their data."""
    return _WORDING.get(kind, _fields)(data)


def _fields(data: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in data.items() if v not in ("", None, [], {}))


def _refused(data: Mapping[str, Any]) -> str:
    refused = f"{data.get('method', '?')} {data.get('path', '?')} refused ({data.get('status', '?')})"
    return f"{refused}: {data.get('reason', '')}"


def _exec(data: Mapping[str, Any]) -> str:
    return f"exec {_command(data)} started"


def _request(data: Mapping[str, Any]) -> str:
    line = f"{data.get('method', '?')} {data.get('path', '?')} -> {data.get('status', '?')}"
    sizes = [
        f"{data['bytes']} B" if "bytes" in data else "",
        f"{data['durationMs']} ms" if "durationMs" in data else "",
    ]
    if any(sizes):
        line += f" ({', '.join(s for s in sizes if s)})"
    if data.get("closed"):
        line += f", closed: {data['closed']}"
    return line


def _command(data: Mapping[str, Any]) -> str:
    command = data.get("command")
    if isinstance(command, list) and command:
        return shlex.join(str(part) for part in command)
    return str(data.get("path", "?"))


def _session(data: Mapping[str, Any]) -> str:
    line = (
        f"exec {_command(data)} ended ({data.get('closed', '?')}): "
        f"{data.get('outputBytes', 0)} B out, {data.get('inputBytes', 0)} B in"
    )
    output = str(data.get("output") or "")
    if not output:
        return line
    lines = output.splitlines()
    shown = lines[:MAX_OUTPUT_LINES]
    more = len(lines) - len(shown)
    tail = [f"  ... {more} more line(s): -o json has all of it"] if more > 0 else []
    truncated = ["  (the gateway kept only the beginning of the output)"] if data.get("truncated") else []
    return "\n".join([line, *(f"  | {text}" for text in shown), *tail, *truncated])


def _alert(data: Mapping[str, Any]) -> str:
    line = f"ALERT {data.get('rule', '?')} ({data.get('action', 'notify')}): {data.get('summary', '')}"
    evidence = data.get("evidence")
    if not isinstance(evidence, list) or not evidence:
        return line
    seqs = ", ".join(str(item.get("seq", "?")) for item in evidence if isinstance(item, Mapping))
    return f"{line}\n  evidence: events {seqs}"


# Every kind has its wording here (a test holds it to that): the gateway's records get sentences; the broker's
# own events read well enough as their data.
_WORDING: dict[str, Callable[[Mapping[str, Any]], str]] = {
    **dict.fromkeys(
        (
            AuditKind.REQUEST_SUBMITTED,
            AuditKind.REQUEST_AUTO_APPROVED,
            AuditKind.REQUEST_BREAK_GLASS,
            AuditKind.REQUEST_APPROVED,
            AuditKind.REQUEST_DENIED,
            AuditKind.REQUEST_CANCELLED,
            AuditKind.REQUEST_QUORUM_REACHED,
            AuditKind.REQUEST_TIMED_OUT,
            AuditKind.OPERATION_REFUSED,
            AuditKind.GRANT_ACTIVATED,
            AuditKind.GRANT_ACTIVATION_FAILED,
            AuditKind.GRANT_EXPIRED,
            AuditKind.GRANT_EXPIRY_FAILED,
            AuditKind.GRANT_REVOKED,
            AuditKind.GRANT_UNBIND_FAILED,
            AuditKind.GRANT_REBIND_FAILED,
            AuditKind.GRANT_EXTENSION_REQUESTED,
            AuditKind.GRANT_EXTENSION_APPROVED,
            AuditKind.GRANT_EXTENSION_DENIED,
            AuditKind.GRANT_BREAK_GLASS_REVIEWED,
            AuditKind.BINDING_CREATED,
            AuditKind.BINDING_DELETED,
            AuditKind.BINDING_SWEPT,
            AuditKind.BINDING_UNRECOGNIZED,
            AuditKind.BINDING_SWEEP_FAILED,
            AuditKind.POLICY_LOADED,
            AuditKind.POLICY_RELOAD_FAILED,
            AuditKind.NOTIFICATION_FAILED,
        ),
        _fields,
    ),
    AuditKind.ACTIVITY_REQUEST: _request,
    AuditKind.ACTIVITY_REFUSED: _refused,
    AuditKind.ACTIVITY_EXEC: _exec,
    AuditKind.ACTIVITY_SESSION_CLOSED: _session,
    AuditKind.ALERT_RAISED: _alert,
}

__all__ = ["describe"]
