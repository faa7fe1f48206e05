"""The gateway's registry of open long-lived streams (watches, exec, attach, port-forward) by grant.

A stream lives as long as its grant, not as long as the token that opened it, so the gateway must be able to
cut every stream of a grant when the broker says it ended or was revoked, when its time is up, or when the
broker falls silent. The forwarding and upgrade code registers streams here; the broker link and the gateway's
cut-off loop close them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OpenStream:
    """One registered stream: its grant, the grant's end when the stream opened, and how to close it."""

    grant_id: str
    deadline: float  # the grant's end (a timestamp) when the stream opened
    close: Callable[[str], None]  # called with the reason


@dataclass
class Sessions:
    """Long-lived streams by grant, closed when their grant ends or is revoked (or the broker falls silent)."""

    streams: dict[int, OpenStream] = field(default_factory=dict)
    ended: dict[str, str] = field(default_factory=dict)  # grants already closed, with the reason (newest last)
    max_ended: int = 100_000
    _next: int = 0

    def add(self, grant_id: str, deadline: float, close: Callable[[str], None]) -> int:
        """Register a stream. A grant that ended between the request's check and this call (the check and the
        registration are separated by the await that reaches kube-apiserver) has its stream closed at once,
        or it would escape the cut-off that already ran."""
        self._next += 1
        if grant_id in self.ended:
            close(self.ended[grant_id])
        else:
            self.streams[self._next] = OpenStream(grant_id, deadline, close)
        return self._next

    def remove(self, key: int) -> None:
        self.streams.pop(key, None)

    def listed(self, grant_ids: set[str]) -> None:
        """The broker lists these grants as active in a snapshot not older than the one that ended them (an
        extension that raced the end): they are no longer ended."""
        for grant_id in grant_ids & self.ended.keys():
            del self.ended[grant_id]

    def close_all(self, reason: str) -> int:
        return self._close(list(self.streams), reason)

    def close_grant(self, grant_id: str, reason: str) -> int:
        self.ended[grant_id] = reason
        if len(self.ended) > self.max_ended:
            self.ended.pop(next(iter(self.ended)))
        return self._close([k for k, stream in self.streams.items() if stream.grant_id == grant_id], reason)

    def close_due(self, now: float, current_end: Callable[[str], float | None] = lambda _grant: None) -> int:
        """Close the streams whose grant's time is up: its current end (an extension moves it) when known,
        else the end it had when the stream opened."""
        due = []
        for key, stream in self.streams.items():
            end = current_end(stream.grant_id)
            if (stream.deadline if end is None else end) <= now:
                due.append(key)
        return self._close(due, "the grant's time is up")

    def _close(self, keys: list[int], reason: str) -> int:
        for key in keys:
            self.streams.pop(key).close(reason)
        return len(keys)
