"""Durations written the way Kubernetes and Go write them: ``45s``, ``30m``, ``1h30m``, ``500ms``.

Policy files, CLI flags (``--for 30m``) and API bodies all use this form, so one parser gives one error
message everywhere.
"""

from __future__ import annotations

import re
from datetime import timedelta

from kubejit.domain.errors import InvalidInput

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
HINT = "write it like 45s, 30m, 1h or 1h30m"
LONGEST = timedelta(days=366)  # nothing kubejit grants lasts longer; also keeps date arithmetic in range


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration; raise :class:`InvalidInput` saying how to write one."""
    value = text.strip()
    if not _WHOLE.fullmatch(value):
        raise InvalidInput(f"{text!r} is not a duration: {HINT}")
    seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(value))
    if seconds <= 0:
        raise InvalidInput(f"{text!r} is not a positive duration: {HINT}")
    if seconds > LONGEST.total_seconds():
        raise InvalidInput(f"{text!r} is longer than a year: ask for a shorter duration")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """The shortest Go-style form: ``1h30m``, ``45s``; sub-second parts are shown in ms."""
    total_ms = round(duration.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts)
