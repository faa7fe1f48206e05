"""Waking the console's event streams when audit events are committed, instead of having them poll.

The broker calls its ``audit_moved`` signal after every audit commit (``kubejit.bootstrap.AuditSignal``), from
whatever thread made the commit: a request handler's worker thread, the keeper, the anomaly watch. The live page's
stream (``_live``) waits on an :class:`AuditBell` it registered there once; :meth:`AuditBell.ring` hands the wake-up
to each waiting stream's event loop. A stream still re-reads on a timer, since events that another broker replica
commits do not ring this process's bell.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio


class Waiter:
    """One stream's wake-up: set from any thread, awaited on its own event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._rung = asyncio.Event()

    def ring(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._rung.set)

    async def wait(self, timeout: float) -> bool:
        """Until rung (True) or ``timeout`` seconds passed (False); a ring before the wait counts."""
        with anyio.move_on_after(timeout):
            await self._rung.wait()
        rung = self._rung.is_set()
        self._rung.clear()
        return rung


class AuditBell:
    """The streams waiting for the next audit commit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[Waiter] = set()

    def ring(self) -> None:
        with self._lock:
            waiting = tuple(self._waiters)
        for waiter in waiting:
            waiter.ring()

    @contextmanager
    def listening(self) -> Iterator[Waiter]:
        """A waiter rung by every commit while the ``with`` block lasts (enter it before reading, so a commit
        between the read and the wait is not missed)."""
        waiter = Waiter(asyncio.get_running_loop())
        with self._lock:
            self._waiters.add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                self._waiters.discard(waiter)
