"""The grant keeper: runs the reconciler's passes in a thread of their own, on time, for the broker.

A pass (:class:`kubejit.services.reconciler.GrantReconciler`) does the work; this module only schedules it:
it passes again as soon as something is due (a precise timer: it sleeps until the next end time, at most
``poll_interval``, or until woken by a new approval), survives a failing pass (counted, logged, retried),
and says whether passes still happen (readiness). Built by :mod:`kubejit.bootstrap` around its reconciler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubejit.services._background import BackgroundThread
from kubejit.services.keeper_stats import KeeperStats
from kubejit.services.reconciler import GrantReconciler

log = logging.getLogger(__name__)
MIN_WAIT = timedelta(seconds=0.02)  # never spin, even when something is overdue

__all__ = ["GrantKeeper"]


@dataclass
class GrantKeeper:
    reconciler: GrantReconciler  # the passes, and the clock, leader election and poll interval they go by
    last_pass: datetime | None = None  # when the last pass finished
    _thread: BackgroundThread = field(init=False)

    def __post_init__(self) -> None:
        self._thread = BackgroundThread("grant-keeper", self.run)

    @property
    def poll_interval(self) -> timedelta:
        return self.reconciler.poll_interval

    @property
    def stats(self) -> KeeperStats:
        return self.reconciler.stats

    def wake(self) -> None:
        """Pass now (a request was approved, revoked or extended)."""
        self._thread.wake()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._thread.stop(timeout)

    def run(self) -> None:
        while not self._thread.stopping.is_set():
            wait = self.tick()
            self._thread.woken.wait(max(wait, MIN_WAIT).total_seconds())
            self._thread.woken.clear()

    def tick(self) -> timedelta:
        """One pass on the leader, and how long until the next is due. Never raises: the loop must survive
        anything (a dropped database connection too); a failed pass is counted and retried after
        ``poll_interval``."""
        try:
            if self.reconciler.leader.is_leader():
                self.reconciler.reconcile()
            self.last_pass = self.reconciler.clock.now()
            return self.reconciler.next_pass_in()
        except Exception:
            self.stats.failures += 1
            log.exception("grant keeper pass failed; retrying")
            return self.poll_interval

    def alive(self) -> bool:
        """The keeper thread runs and finished a pass recently (for readiness)."""
        return self._thread.running() and self.passed_recently()

    def passed_recently(self) -> bool:
        recent = max(timedelta(seconds=30), 4 * self.poll_interval)
        return self.last_pass is not None and self.reconciler.clock.now() - self.last_pass < recent
