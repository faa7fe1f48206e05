"""Requests the gateway refused before it knew who sent them: counted, and logged at a bounded rate.

A refusal made for a known person goes on the audit trail as activity. One made before the caller is known (no
token, a forged or expired one, a malformed request ahead of its token) has nobody to attribute it to, and
recording each would let anyone on the network write to the audit chain; saying nothing would hide a probe or a
credential-stuffing run. So the proxy notes each one here, and at most once per interval a warning says how many
there were since the last one, by ``Status`` reason, the total since start, and the last peer and message (the
message never holds a token: refusals quote at most a shortened claim). The gateway's cut-off loop calls
:meth:`AnonymousRefusals.flush`, so a burst is reported even when nothing follows it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("kubejit.gateway")

LOG_INTERVAL_SECONDS = 10.0
_MAX_MESSAGE = 200


@dataclass
class AnonymousRefusals:
    """Counts by ``Status`` reason (a bounded set: the error table's reasons) and a rate-limited warning."""

    interval: float = LOG_INTERVAL_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    total: int = 0
    since_start: Counter[str] = field(default_factory=Counter)
    _pending: Counter[str] = field(default_factory=Counter)
    _last: str = ""
    _logged_at: float | None = None

    def note(self, reason: str, peer: str, message: str) -> None:
        self.total += 1
        self.since_start[reason] += 1
        self._pending[reason] += 1
        shown = " ".join(message.split())
        self._last = f"from {peer}: {shown[:_MAX_MESSAGE]}{'...' if len(shown) > _MAX_MESSAGE else ''}"
        if self.due():
            self.flush()

    def due(self) -> bool:
        """Whether something waits to be reported and the last warning is at least an interval old."""
        return bool(self._pending) and (self._logged_at is None or self.monotonic() - self._logged_at >= self.interval)

    def flush(self) -> None:
        """Log what was noted since the last warning, if anything."""
        if not self._pending:
            return
        now = self.monotonic()
        window = "" if self._logged_at is None else f" in the last {now - self._logged_at:.0f} s"
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self._pending.items()))
        log.warning(
            "refused %d request(s) from unknown callers%s (%s; %d since start); last %s",
            sum(self._pending.values()),
            window,
            reasons,
            self.total,
            self._last,
        )
        self._pending.clear()
        self._logged_at = now
