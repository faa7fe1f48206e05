"""Posts notifications to webhooks: generic JSON receivers and Slack-compatible incoming webhooks.

Why it exists: approvers must hear that a request waits for them, requesters that it was decided, everyone
that a grant started or ended; but a slow or broken chat server must never hold up (or fail) an approval or a
revocation. So :meth:`WebhookNotifier.notify` only queues and returns; one worker thread per target (``_lane``;
a dead receiver does not delay the others) delivers with retries and exponential backoff (``_delivery``), and
whatever cannot be delivered is handed to ``on_failure`` (the broker records it in its audit trail).

The broker wires one :class:`WebhookNotifier` in ``kubejit.bootstrap``, calls :meth:`~WebhookNotifier.start` at
start-up and :meth:`~WebhookNotifier.stop` at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Self

from kubejit.adapters.notify._lane import AttemptHook, FailureHandler, Lane, LaneSettings, _ignore_attempt
from kubejit.adapters.notify._targets import WebhookTarget
from kubejit.domain.errors import InvalidInput
from kubejit.ports import Notification

log = logging.getLogger(__name__)


class WebhookNotifier:
    """A :class:`~kubejit.ports.Notifier` that posts to webhooks from worker threads (one per target).

    ``retries`` is the number of attempts after the first; ``backoff`` the first wait, doubled each time with
    jitter and capped at ``max_backoff``; ``timeout`` bounds each attempt; ``queue_size`` bounds each target's
    queue (the oldest is dropped, and reported, when it is full). ``on_failure(notification, target, reason)``
    is called from a worker thread for everything not delivered; it should not block for long.
    ``on_attempt(target label, outcome, seconds)`` is called from a worker thread after every attempt (metrics).
    ``console_url`` (the broker's web console, when it has one) makes every body link the request's page there.
    """

    def __init__(
        self,
        targets: Sequence[WebhookTarget],
        *,
        on_failure: FailureHandler | None = None,
        retries: int = 5,
        backoff: timedelta = timedelta(seconds=0.5),
        max_backoff: timedelta = timedelta(seconds=30),
        timeout: timedelta = timedelta(seconds=5),
        queue_size: int = 1000,
        on_attempt: AttemptHook = _ignore_attempt,
        console_url: str | None = None,
    ) -> None:
        if retries < 0:
            raise InvalidInput("retries must not be negative")
        if backoff <= timedelta(0) or max_backoff < backoff:
            raise InvalidInput("backoff must be positive and max_backoff at least as long")
        if timeout <= timedelta(0):
            raise InvalidInput("the webhook timeout must be positive")
        if queue_size < 1:
            raise InvalidInput("queue_size must be at least 1")
        settings = LaneSettings(
            retries=retries,
            backoff=backoff.total_seconds(),
            max_backoff=max_backoff.total_seconds(),
            timeout=timeout.total_seconds(),
            queue_size=queue_size,
            console_url=console_url,
        )
        self._settings = settings
        self._on_failure = on_failure or (lambda _n, _t, _r: None)
        self._lanes = tuple(Lane(target, settings, self._on_failure, on_attempt) for target in targets)
        self._lock = threading.Lock()
        self._stopped = False

    def notify(self, notification: Notification) -> None:
        """Queue delivery to every target that wants this event; returns at once and never raises."""
        try:
            for lane in self._lanes:
                if lane.target.wants(notification.event) and not lane.put(notification):
                    log.warning(
                        "not sending %s of request %s to %s: the notifier is stopped",
                        notification.event,
                        notification.request.id,
                        lane.target.label,
                    )
        except Exception:
            log.exception("could not queue a notification")

    def start(self) -> None:
        """Start the worker threads (idempotent). Notifications queued before are delivered now."""
        with self._lock:
            if self._stopped:
                raise InvalidInput("a stopped WebhookNotifier cannot be started again; make a new one")
            for lane in self._lanes:
                lane.start()

    def stop(self, timeout: timedelta | float = timedelta(seconds=10)) -> None:
        """Stop accepting notifications and deliver what is queued within ``timeout``; whatever is still
        undelivered then is reported to ``on_failure``. Threads finish within about one request timeout more."""
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        with self._lock:
            self._stopped = True
        for lane in self._lanes:
            lane.close()
        deadline = time.monotonic() + seconds
        for lane in self._lanes:
            lane.join(deadline - time.monotonic())
        for lane in self._lanes:
            lane.abort()
        grace = self._settings.timeout + 1.0  # an attempt in flight cannot be interrupted
        for lane in self._lanes:
            lane.abandon_unstarted()
            if not lane.join(grace):
                log.warning("the webhook worker for %s is still busy after stop()", lane.target.label)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
