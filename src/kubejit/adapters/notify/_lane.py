"""One webhook target's queue and the worker thread that empties it, retrying with backoff.

Why it exists: a slow or broken receiver must never hold up the broker, nor the other targets. ``notify()``
only appends to a bounded in-memory queue (dropping, and reporting, the oldest when it is full); the worker
posts each notification (``_delivery``), waits between attempts with exponential backoff and jitter, and
hands whatever cannot be delivered to the failure handler, always from its own thread; each attempt's outcome
and duration go to the attempt hook (the broker's metrics). Stopping lets the
worker deliver what is queued, or aborts the waits and reports the rest. :class:`WebhookNotifier`
(``_notifier``) makes one :class:`Lane` per target.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from kubejit.adapters.notify._delivery import Outcome, delivery_headers, post_once
from kubejit.adapters.notify._rendering import render
from kubejit.adapters.notify._targets import WebhookTarget
from kubejit.ports import Notification

log = logging.getLogger(__name__)

FailureHandler = Callable[[Notification, WebhookTarget, str], None]
AttemptHook = Callable[[str, str, float], None]  # (target label, outcome: delivered/retry/permanent, seconds)


def _ignore_attempt(_target: str, _outcome: str, _seconds: float) -> None:
    pass


_RANDOM = secrets.SystemRandom()


@dataclass(frozen=True)
class LaneSettings:
    """Seconds and counts, checked by the notifier: attempts after the first, backoff, timeout, queue bound."""

    retries: int
    backoff: float
    max_backoff: float
    timeout: float
    queue_size: int
    console_url: str | None = None  # the broker's console ({publicUrl}/console): bodies link the request's page


class Lane:
    """One target's queue and the worker thread that empties it."""

    def __init__(
        self,
        target: WebhookTarget,
        settings: LaneSettings,
        report: FailureHandler,
        on_attempt: AttemptHook = _ignore_attempt,
    ) -> None:
        self.target = target
        self._on_attempt = on_attempt
        self._settings = settings
        self._report_to = report
        self._ssl = target.ssl_context()
        self._items: deque[Notification] = deque()
        self._failures: deque[tuple[Notification, str]] = deque()  # reported by the worker, never by notify()
        self._cond = threading.Condition()
        self._closing = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the caller's side ----------------------------------------------------------------------------------

    def put(self, notification: Notification) -> bool:
        """Queue for delivery, dropping the oldest when full; False once the lane is stopped."""
        with self._cond:
            if self._closing:
                return False
            if len(self._items) >= self._settings.queue_size:
                dropped = self._items.popleft()
                self._failures.append(
                    (dropped, f"dropped: the queue for this target was full ({self._settings.queue_size} waiting)")
                )
            self._items.append(notification)
            self._cond.notify()
        return True

    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(target=self._run, name=f"webhook {self.target.label}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Accept nothing more; the worker delivers what is queued, then ends."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Give up now: waits end, what is left is reported as not delivered."""
        self._abort.set()
        self.close()

    def join(self, timeout: float) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(max(timeout, 0.0))
            return not thread.is_alive()
        return True

    def abandon_unstarted(self) -> None:
        """Stopped without ever starting: report what was queued, from the caller's thread."""
        if self._thread is None:
            self._flush_failures()
            self._give_up_on_queue("the notifier stopped before it was started")

    # ---- the worker -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        client = httpx.Client(verify=self._ssl, timeout=self._settings.timeout, follow_redirects=False)
        try:
            while True:
                self._flush_failures()
                with self._cond:
                    while not self._items and not self._failures and not self._closing:
                        self._cond.wait()
                    if not self._items:
                        if self._failures:
                            continue
                        break
                    notification = self._items.popleft()
                if self._abort.is_set():
                    self._report(notification, "not delivered: the notifier stopped first")
                    continue
                try:
                    self._deliver(client, notification)
                except Exception as error:  # one bad notification must not stop the others
                    log.exception("delivering to %s failed unexpectedly", self.target.label)
                    self._report(notification, f"not delivered: kubejit failed to send it ({type(error).__name__})")
        except Exception:  # the worker must not die silently with notifications queued
            log.exception("the webhook worker for %s failed", self.target.label)
        finally:
            client.close()
            self._flush_failures()
            self._give_up_on_queue("not delivered: the notifier stopped first")

    def _give_up_on_queue(self, reason: str) -> None:
        while True:
            with self._cond:
                if not self._items:
                    return
                notification = self._items.popleft()
            self._report(notification, reason)

    def _flush_failures(self) -> None:
        while True:
            with self._cond:
                if not self._failures:
                    return
                notification, reason = self._failures.popleft()
            self._report(notification, reason)

    def _report(self, notification: Notification, reason: str) -> None:
        log.warning(
            "could not deliver %s of request %s to %s: %s",
            notification.event,
            notification.request.id,
            self.target.label,
            reason,
        )
        try:
            self._report_to(notification, self.target, reason)
        except Exception:
            log.exception("on_failure raised while reporting an undelivered notification")

    def _deliver(self, client: httpx.Client, notification: Notification) -> None:
        body = render(notification, self.target.format, console_url=self._settings.console_url)
        headers = delivery_headers(notification, self.target)
        attempts = self._settings.retries + 1
        for attempt in range(attempts):
            started = time.monotonic()
            answer = post_once(client, self.target, body, headers, self._settings.timeout)
            self._observe(answer.outcome.value, time.monotonic() - started)
            if answer.outcome is Outcome.DELIVERED:
                return
            if answer.outcome is Outcome.PERMANENT:
                self._report(notification, f"refused, not retried: {answer.reason}")
                return
            if attempt + 1 == attempts:
                self._report(notification, f"gave up after {attempts} attempts; the last one: {answer.reason}")
                return
            if self._abort.wait(self._delay(attempt, answer.retry_after)):
                self._report(
                    notification, f"not delivered before the notifier stopped; the last attempt: {answer.reason}"
                )
                return
            self._flush_failures()

    def _observe(self, outcome: str, seconds: float) -> None:
        try:
            self._on_attempt(self.target.label, outcome, seconds)
        except Exception:
            log.exception("the delivery attempt hook raised")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (50-100% of the doubled step), capped; Retry-After within the cap."""
        settings = self._settings
        step = min(settings.max_backoff, settings.backoff * float(2**attempt))
        delay: float = step * _RANDOM.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, settings.max_backoff))
        return delay
