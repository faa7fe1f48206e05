"""Posts notifications to webhooks: generic JSON receivers and Slack-compatible incoming webhooks.

Why it exists: approvers must hear that a request waits for them, requesters that it was decided, everyone
that a grant started or ended; but a slow or broken chat server must never hold up (or fail) an approval or a
revocation. So :meth:`WebhookNotifier.notify` only appends to an in-memory queue and returns; one worker thread
per target (a dead receiver does not delay the others) delivers with retries and exponential backoff, and
whatever cannot be delivered is handed to ``on_failure`` (the broker records it in its audit trail).

Delivery rules: 2xx delivered; 408, 429, 5xx, timeouts and connection errors are retried (honouring a
``Retry-After`` in seconds, within the backoff cap); any other answer (other 4xx, redirects) is permanent and
reported at once. Redirects are never followed: the configured URL is the one that receives the data.

Payloads carry what people need to act (who, which profile, where, why, until when, the request id) and no
secrets: no tokens, no target headers. Slack text is escaped so a request reason cannot mention ``@channel`` or
forge links. Target URLs are never logged in full (Slack webhook URLs are credentials): only scheme and host.

The broker wires one :class:`WebhookNotifier` in ``kubejit.bootstrap``, calls :meth:`~WebhookNotifier.start` at
start-up and :meth:`~WebhookNotifier.stop` at shutdown.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx

from kubejit.domain.durations import format_duration
from kubejit.domain.errors import InvalidInput
from kubejit.ports import Notification

log = logging.getLogger(__name__)

FailureHandler = Callable[[Notification, "WebhookTarget", str], None]

_MAX_REASON_CHARS = 500
_MAX_MESSAGE_CHARS = 1000
_MAX_RESPONSE_SNIPPET = 200
_RANDOM = secrets.SystemRandom()


# ---- configuration ---------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, repr=False)
class WebhookTarget:
    """Where to post, in which format, for which events (None: all), trusting which CA, with which headers.

    ``url`` and ``headers`` may hold credentials (a Slack webhook URL is one): they are never logged, shown in
    ``repr`` or put in failure reasons; :attr:`label` names the target instead.
    """

    url: str
    format: Literal["generic", "slack"] = "generic"
    events: frozenset[str] | None = None
    ca_pem: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if not host or parts.scheme not in ("https", "http"):
            raise InvalidInput(f"webhook {self.label}: the URL must be an absolute https URL")
        if parts.scheme == "http" and not _is_loopback(host):
            raise InvalidInput(f"webhook {self.label}: use https (plain http is allowed only on loopback, for tests)")
        if self.format not in ("generic", "slack"):
            raise InvalidInput(f"webhook {self.label}: format must be 'generic' or 'slack', not {self.format!r}")
        if self.events is not None:
            object.__setattr__(self, "events", frozenset(self.events))
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str) or any(c in name + value for c in "\r\n\0"):
                raise InvalidInput(f"webhook {self.label}: header names and values must be single-line strings")
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        if self.ca_pem is not None:
            self.ssl_context()  # fail at configuration time, not at the first delivery

    @property
    def label(self) -> str:
        """A name for logs and failure reasons: format, scheme and host, never the path or query."""
        parts = urlsplit(self.url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        host = parts.hostname or "?"
        more = "/..." if parts.path.strip("/") or parts.query else ""
        return f"{self.format} {parts.scheme or '?'}://{host}{port}{more}"

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    def ssl_context(self) -> ssl.SSLContext:
        """Only ``ca_pem`` is trusted when given; the system's roots otherwise."""
        if self.ca_pem is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as error:
            raise InvalidInput(f"webhook {self.label}: ca_pem is not a PEM certificate bundle ({error})") from error

    def __repr__(self) -> str:
        events = "all" if self.events is None else ",".join(sorted(self.events))
        return f"WebhookTarget({self.label}, events={events})"


# ---- payloads --------------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generic_payload(notification: Notification) -> dict[str, Any]:
    """The JSON a generic receiver gets: the event, when, a human message and the request's facts."""
    request = notification.request
    return {
        "event": notification.event,
        "at": _iso(notification.at),
        "message": notification.message,
        "request": {
            "id": request.id,
            "requester": request.requester.user,
            "groups": sorted(request.requester.groups),
            "profile": request.profile,
            "namespaces": list(request.namespaces),
            "state": str(request.state),
            "reason": request.reason,
            "duration_seconds": int(request.duration.total_seconds()),
            "created_at": _iso(request.created_at),
            "starts_at": _iso(request.starts_at),
            "ends_at": _iso(request.ends_at),
            "approvers": list(request.approvers),
            "break_glass": request.break_glass,
        },
    }


def _slack_escape(text: str) -> str:
    """Slack reads ``<...>`` as links and mentions (``<!channel>``); user text must stay plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _until(notification: Notification) -> str:
    request = notification.request
    if request.ends_at is not None:
        return request.ends_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{format_duration(request.duration)} once active"


def slack_payload(notification: Notification) -> dict[str, Any]:
    """A Slack-compatible message: a one-line ``text`` (also the notification fallback) and ``blocks``."""
    request = notification.request
    who = _slack_escape(request.requester.user)
    profile = _slack_escape(request.profile)
    where = _slack_escape(", ".join(request.namespaces)) if request.namespaces else "cluster-wide"
    why = _slack_escape(_cut(request.reason, _MAX_REASON_CHARS)) or "(no reason given)"
    until = _until(notification)
    message = _slack_escape(_cut(notification.message, _MAX_MESSAGE_CHARS))
    footer = f"request `{_slack_escape(request.id)}` · {_slack_escape(notification.event)} · {_iso(notification.at)}"
    flag = " [break-glass]" if request.break_glass else ""
    text = f"{message} | {who}: {profile} in {where}, until {until}, why: {why} (request {request.id}){flag}"
    fields = [
        f"*Who*\n{who}",
        f"*Profile*\n{profile}",
        f"*Namespaces*\n{where}",
        f"*Until*\n{until}",
        f"*Why*\n{why}",
        f"*State*\n{request.state}{flag}",
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{message}*"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": footer}],
            },
        ],
    }


_RENDERERS: Mapping[str, Callable[[Notification], dict[str, Any]]] = {
    "generic": generic_payload,
    "slack": slack_payload,
}


# ---- delivery --------------------------------------------------------------------------------------------------


class _Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class _Settings:
    retries: int
    backoff: float
    max_backoff: float
    timeout: float
    queue_size: int


class _Lane:
    """One target's queue and the worker thread that empties it."""

    def __init__(self, target: WebhookTarget, settings: _Settings, report: FailureHandler) -> None:
        self.target = target
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
        body = json.dumps(_RENDERERS[self.target.format](notification), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "kubejit-notifier",
            "X-Kubejit-Event": notification.event,
            "X-Kubejit-Delivery": uuid.uuid4().hex,  # the same on every retry, so receivers can drop duplicates
            **self.target.headers,
        }
        attempts = self._settings.retries + 1
        for attempt in range(attempts):
            outcome, reason, retry_after = self._attempt(client, body, headers)
            if outcome is _Outcome.DELIVERED:
                return
            if outcome is _Outcome.PERMANENT:
                self._report(notification, f"refused, not retried: {reason}")
                return
            if attempt + 1 == attempts:
                self._report(notification, f"gave up after {attempts} attempts; the last one: {reason}")
                return
            if self._abort.wait(self._delay(attempt, retry_after)):
                self._report(notification, f"not delivered before the notifier stopped; the last attempt: {reason}")
                return
            self._flush_failures()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (50-100% of the doubled step), capped; Retry-After within the cap."""
        settings = self._settings
        step = min(settings.max_backoff, settings.backoff * float(2**attempt))
        delay: float = step * _RANDOM.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, settings.max_backoff))
        return delay

    def _attempt(
        self, client: httpx.Client, body: bytes, headers: Mapping[str, str]
    ) -> tuple[_Outcome, str, float | None]:
        try:
            with client.stream("POST", self.target.url, content=body, headers=headers) as response:
                status = response.status_code
                snippet = ""
                if 400 <= status < 500:
                    snippet = _snippet(response)
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except httpx.TimeoutException:
            return _Outcome.RETRY, f"no answer within {self._settings.timeout:g}s", None
        except httpx.TransportError as error:
            return _Outcome.RETRY, f"could not connect ({type(error).__name__}: {self._scrub(str(error))})", None
        except httpx.HTTPError as error:
            return _Outcome.PERMANENT, f"{type(error).__name__}: {self._scrub(str(error))}", None
        if 200 <= status < 300:
            return _Outcome.DELIVERED, "", None
        if status in (408, 429) or status >= 500:
            return _Outcome.RETRY, f"HTTP {status}", retry_after
        if 300 <= status < 400:
            return _Outcome.PERMANENT, f"HTTP {status}: redirects are not followed; configure the final URL", None
        if 400 <= status < 500:
            return _Outcome.PERMANENT, f"HTTP {status}" + (f": {snippet}" if snippet else ""), None
        return _Outcome.RETRY, f"HTTP {status}", None

    def _scrub(self, text: str) -> str:
        """Error texts may quote the URL; the path and query of a webhook URL can be a credential."""
        return text.replace(self.target.url, self.target.label)


def _snippet(response: httpx.Response) -> str:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _MAX_RESPONSE_SNIPPET:
            break
    text = data[:_MAX_RESPONSE_SNIPPET].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the exponential backoff is good enough
    return seconds if seconds >= 0 else None


class WebhookNotifier:
    """A :class:`~kubejit.ports.Notifier` that posts to webhooks from worker threads (one per target).

    ``retries`` is the number of attempts after the first; ``backoff`` the first wait, doubled each time with
    jitter and capped at ``max_backoff``; ``timeout`` bounds each attempt; ``queue_size`` bounds each target's
    queue (the oldest is dropped, and reported, when it is full). ``on_failure(notification, target, reason)``
    is called from a worker thread for everything not delivered; it should not block for long.
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
    ) -> None:
        if retries < 0:
            raise InvalidInput("retries must not be negative")
        if backoff <= timedelta(0) or max_backoff < backoff:
            raise InvalidInput("backoff must be positive and max_backoff at least as long")
        if timeout <= timedelta(0):
            raise InvalidInput("the webhook timeout must be positive")
        if queue_size < 1:
            raise InvalidInput("queue_size must be at least 1")
        settings = _Settings(
            retries=retries,
            backoff=backoff.total_seconds(),
            max_backoff=max_backoff.total_seconds(),
            timeout=timeout.total_seconds(),
            queue_size=queue_size,
        )
        self._settings = settings
        self._on_failure = on_failure or (lambda _n, _t, _r: None)
        self._lanes = tuple(_Lane(target, settings, self._on_failure) for target in targets)
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

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
