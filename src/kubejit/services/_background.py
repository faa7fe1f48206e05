"""A named daemon thread with a stop flag and a wake-up call: the loops of the grant keeper and the audit
checkpointer run in one each (:mod:`kubejit.services.keeper`, :class:`kubejit.services.audit.Checkpointer`).

The loop itself (what to do, how long to sleep) stays with its owner; this only starts, wakes and stops it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class BackgroundThread:
    name: str
    loop: Callable[[], None]  # runs until ``stopping`` is set
    woken: threading.Event = field(default_factory=threading.Event)  # set by wake(), cleared by the loop
    stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.loop, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self.woken.set()

    def stop(self, timeout: float) -> None:
        self.stopping.set()
        self.woken.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
