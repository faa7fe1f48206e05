"""One audit event as a line (or a few) for a person reading ``kubejit audit``.

What the gateway records is written for machines (method, path, status, byte counts, its own numbering); an
auditor reading a grant's trail wants "GET /api/v1/.../pods/app -> 200" and, for an exec session, the command
and what it printed. Events kubejit has no special wording for show their data as key=value pairs. The JSON
output (-o json) is always the complete record.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

MAX_OUTPUT_LINES = 20


def describe(kind: str, data: Mapping[str, Any]) -> str:
    if kind == "activity.request":
        return _request(data)
    if kind == "activity.refused":
        refused = f"{data.get('method', '?')} {data.get('path', '?')} refused ({data.get('status', '?')})"
        return f"{refused}: {data.get('reason', '')}"
    if kind == "activity.exec":
        return f"exec {_command(data)} started"
    if kind == "activity.session-closed":
        return _session(data)
    return ", ".join(f"{k}={v}" for k, v in data.items() if v not in ("", None, [], {}))


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


__all__ = ["describe"]
