"""Closing a stream a port returned (such as :meth:`kubejit.ports.AuditRepository.events`) that was not read to
its end, so its database cursor is released at once; iterators without ``close`` need nothing."""

from __future__ import annotations

from collections.abc import Iterator


def close_stream(stream: Iterator[object]) -> None:
    """Close ``stream`` if it can be closed (a generator, a database result); otherwise do nothing."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()
