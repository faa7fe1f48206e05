"""Webhook notifications against small real HTTP(S) receivers on 127.0.0.1.

Both payload formats arrive; 5xx, 408/429 and unreachable receivers are retried with backoff and reported to
``on_failure`` once retries run out; a 4xx is reported at once without retrying; events can be filtered; a
full queue drops the oldest and says so; ``notify()`` never waits for the network; ``stop()`` drains.
"""

from __future__ import annotations

import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict

import pytest

from kubejit.adapters.notify import WebhookNotifier, WebhookTarget, generic_payload, slack_payload
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import AccessRequest, Review, State, Verdict
from kubejit.ports import Notification
from tests.conftest import eventually


class Backoff(TypedDict):
    backoff: timedelta
    max_backoff: timedelta


FAST = Backoff(backoff=timedelta(milliseconds=10), max_backoff=timedelta(milliseconds=40))
AT = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)

# ---- receivers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Receiver:
    """An HTTP(S) server on 127.0.0.1 that records each POST and answers with the next scripted status
    (the last one repeats); ``hold`` makes it wait before answering."""

    def __init__(self, statuses: Sequence[int] = (200,), *, tls: ssl.SSLContext | None = None) -> None:
        self.statuses = list(statuses)
        self.received: list[Received] = []
        self.arrived = 0  # requests read, including those still held
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}/hooks/T000/B000/s3cr3t-path"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.arrived += 1
                receiver.hold.wait(10)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), json.loads(body)))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                reply = b"invalid_payload" if 400 <= status < 500 else b"ok"
                self.send_response(status)
                if status in (429, 503):
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.received)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, bytes]:
    """A serving context for 127.0.0.1 and the CA that signed it."""
    ca = CertificateAuthority("webhook-test-ca")
    pair = ca.issue_server("webhook-receiver")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = pair.write(Path(directory), "receiver")
        context.load_cert_chain(cert, key)
    return context, ca.cert_pem


@pytest.fixture
def dead_url() -> str:
    """A loopback port nobody listens on: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections (in the kernel's backlog) and never answers: every attempt times out."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


class Failures:
    def __init__(self) -> None:
        self.items: list[tuple[Notification, WebhookTarget, str]] = []
        self._lock = threading.Lock()

    def __call__(self, notification: Notification, target: WebhookTarget, reason: str) -> None:
        with self._lock:
            self.items.append((notification, target, reason))

    @property
    def reasons(self) -> list[str]:
        with self._lock:
            return [reason for _, _, reason in self.items]


def notification(event: str = "grant.active", request_id: str = "r-1a2b3c", **changes: Any) -> Notification:
    request = AccessRequest(
        id=request_id,
        requester=Identity("alice", frozenset({"payments-devs"})),
        profile="payments-debug",
        namespaces=("payments", "payments-eu"),
        duration=timedelta(minutes=30),
        reason="INC-4711 checkout errors <!channel> & <https://evil.example|click>",
        created_at=AT - timedelta(minutes=5),
        state=State.ACTIVE,
        reviews=(Review("bob", Verdict.APPROVE, AT - timedelta(minutes=2)),),
        approved_at=AT - timedelta(minutes=2),
        starts_at=AT,
        ends_at=AT + timedelta(minutes=30),
    )
    request = replace(request, **changes)
    return Notification(event, request, AT, f"alice now has payments-debug until 10:30 ({request_id})")


# ---- delivery -----------------------------------------------------------------------------------------------


def test_generic_json_is_delivered_over_https(tls: tuple[ssl.SSLContext, bytes]) -> None:
    context, ca_pem = tls
    with Receiver(tls=context) as receiver:
        target = WebhookTarget(receiver.url, "generic", ca_pem=ca_pem, headers={"Authorization": "Bearer hook-secret"})
        failures = Failures()
        with WebhookNotifier([target], on_failure=failures, **FAST) as notifier:
            notifier.notify(notification())
            assert eventually(lambda: receiver.count == 1)
    assert failures.items == []
    received = receiver.received[0]
    assert received.headers["Authorization"] == "Bearer hook-secret"
    assert received.headers["Content-Type"].startswith("application/json")
    assert received.headers["X-Kubejit-Event"] == "grant.active"
    assert received.body == {
        "event": "grant.active",
        "at": "2026-03-04T10:00:00Z",
        "message": "alice now has payments-debug until 10:30 (r-1a2b3c)",
        "request": {
            "id": "r-1a2b3c",
            "requester": "alice",
            "groups": ["payments-devs"],
            "profile": "payments-debug",
            "namespaces": ["payments", "payments-eu"],
            "state": "active",
            "reason": "INC-4711 checkout errors <!channel> & <https://evil.example|click>",
            "duration_seconds": 1800,
            "created_at": "2026-03-04T09:55:00Z",
            "starts_at": "2026-03-04T10:00:00Z",
            "ends_at": "2026-03-04T10:30:00Z",
            "approvers": ["bob"],
            "break_glass": False,
        },
    }
    assert "hook-secret" not in json.dumps(received.body)


def test_slack_message_is_delivered_and_says_who_what_where_why_until_which() -> None:
    with Receiver() as receiver, WebhookNotifier([WebhookTarget(receiver.url, "slack")], **FAST) as notifier:
        notifier.notify(notification())
        assert eventually(lambda: receiver.count == 1)
    body = receiver.received[0].body
    assert set(body) == {"text", "blocks"}
    text = body["text"]
    for fact in ("alice", "payments-debug", "payments, payments-eu", "INC-4711", "2026-03-04 10:30 UTC", "r-1a2b3c"):
        assert fact in text, text
    everything = json.dumps(body)
    assert "<!channel>" not in everything, "user text must not be able to mention anyone"
    assert "&lt;!channel&gt;" in everything
    assert "<https://evil.example" not in everything
    assert [block["type"] for block in body["blocks"]] == ["section", "section", "context"]


def test_payload_functions_handle_pending_cluster_wide_and_break_glass() -> None:
    pending = notification(
        "request.pending", state=State.PENDING, starts_at=None, ends_at=None, namespaces=(), break_glass=True
    )
    generic = generic_payload(pending)["request"]
    assert generic["starts_at"] is None
    assert generic["ends_at"] is None
    assert generic["namespaces"] == []
    text = slack_payload(pending)["text"]
    assert "cluster-wide" in text
    assert "30m once active" in text
    assert "break-glass" in text


def test_500s_are_retried_until_delivered() -> None:
    with Receiver([500, 503, 429, 200]) as receiver:
        failures = Failures()
        with WebhookNotifier([WebhookTarget(receiver.url)], on_failure=failures, **FAST) as notifier:
            notifier.notify(notification())
            assert eventually(lambda: receiver.count == 4)
            time.sleep(0.1)
    assert receiver.count == 4
    assert failures.items == []
    deliveries = {r.headers["X-Kubejit-Delivery"] for r in receiver.received}
    assert len(deliveries) == 1, "retries carry the same delivery id, so receivers can drop duplicates"


def test_a_400_is_reported_at_once_without_retrying() -> None:
    with Receiver([400]) as receiver:
        failures = Failures()
        with WebhookNotifier([WebhookTarget(receiver.url, "slack")], on_failure=failures, **FAST) as notifier:
            notifier.notify(notification())
            assert eventually(lambda: len(failures.items) == 1)
            time.sleep(0.1)
    assert receiver.count == 1
    (sent, target, reason) = failures.items[0]
    assert sent.request.id == "r-1a2b3c"
    assert target.format == "slack"
    assert "HTTP 400" in reason
    assert "invalid_payload" in reason
    assert "not retried" in reason
    assert "s3cr3t-path" not in reason


def test_a_dead_receiver_is_reported_after_the_retries_and_notify_never_blocks(dead_url: str, silent_url: str) -> None:
    failures = Failures()
    targets = [WebhookTarget(dead_url), WebhookTarget(silent_url, "slack")]
    notifier = WebhookNotifier(
        targets, on_failure=failures, retries=3, timeout=timedelta(milliseconds=200), queue_size=100, **FAST
    )
    notifier.start()
    try:
        slowest = 0.0
        for i in range(20):
            started = time.perf_counter()
            notifier.notify(notification(request_id=f"r-{i}"))
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, f"notify() took {slowest * 1000:.1f} ms"
        assert eventually(lambda: len([r for r in failures.reasons if "connect" in r]) >= 1, timeout=10)
        assert eventually(lambda: len([r for r in failures.reasons if "no answer" in r]) >= 1, timeout=10)
    finally:
        notifier.stop(timeout=0.5)
    generic = [reason for _, t, reason in failures.items if t.format == "generic"]
    slack = [reason for _, t, reason in failures.items if t.format == "slack"]
    assert "gave up after 4 attempts; the last one: could not connect (ConnectError" in generic[0]
    assert slack[0] == "gave up after 4 attempts; the last one: no answer within 0.2s"
    assert "stopped" in slack[-1], "what stop() could not deliver is reported too"
    reported = [(n.request.id, t.format) for n, t, _ in failures.items]
    assert sorted(reported) == sorted({(f"r-{i}", f) for i in range(20) for f in ("generic", "slack")})
    assert all("/hook" not in reason for reason in failures.reasons)


def test_events_are_filtered_per_target() -> None:
    with Receiver() as approvers, Receiver() as everyone:
        targets = [
            WebhookTarget(approvers.url, "slack", events=frozenset({"request.pending"})),
            WebhookTarget(everyone.url),
        ]
        with WebhookNotifier(targets, **FAST) as notifier:
            for event in ("request.pending", "request.approved", "grant.active", "request.pending"):
                notifier.notify(notification(event))
            assert eventually(lambda: everyone.count == 4 and approvers.count == 2)
            time.sleep(0.1)
    assert approvers.count == 2
    assert [r.body["event"] for r in everyone.received] == [
        "request.pending",
        "request.approved",
        "grant.active",
        "request.pending",
    ]


def test_a_full_queue_drops_the_oldest_and_reports_it() -> None:
    with Receiver() as receiver:
        failures = Failures()
        notifier = WebhookNotifier([WebhookTarget(receiver.url)], on_failure=failures, queue_size=3, **FAST)
        for i in range(5):
            notifier.notify(notification(request_id=f"r-{i}"))  # not started yet: nothing is sent
        assert failures.items == [], "notify() never calls on_failure itself"
        notifier.start()
        try:
            assert eventually(lambda: receiver.count == 3 and len(failures.items) == 2)
        finally:
            notifier.stop()
    assert [n.request.id for n, _, _ in failures.items] == ["r-0", "r-1"]
    assert all("dropped" in reason for reason in failures.reasons)
    assert [r.body["request"]["id"] for r in receiver.received] == ["r-2", "r-3", "r-4"]


def test_a_full_queue_behind_a_slow_receiver_keeps_notify_fast() -> None:
    with Receiver() as receiver:
        receiver.hold.clear()  # the receiver holds the first request: the worker is busy
        failures = Failures()
        notifier = WebhookNotifier([WebhookTarget(receiver.url)], on_failure=failures, queue_size=10, **FAST)
        notifier.start()
        try:
            notifier.notify(notification(request_id="r-0"))
            assert eventually(lambda: receiver.arrived == 1)
            started = time.perf_counter()
            for i in range(1, 200):
                notifier.notify(notification(request_id=f"r-{i}"))
            assert time.perf_counter() - started < 0.5
            receiver.hold.set()
            assert eventually(lambda: len(failures.items) == 189 and receiver.count == 11)
        finally:
            notifier.stop()
    assert [n.request.id for n, _, _ in failures.items] == [f"r-{i}" for i in range(1, 190)]
    assert [r.body["request"]["id"] for r in receiver.received] == ["r-0", *(f"r-{i}" for i in range(190, 200))]


def test_stop_drains_the_queue() -> None:
    with Receiver() as receiver:
        notifier = WebhookNotifier([WebhookTarget(receiver.url)], **FAST)
        notifier.start()
        for i in range(25):
            notifier.notify(notification(request_id=f"r-{i}"))
        notifier.stop(timeout=timedelta(seconds=10))
        assert receiver.count == 25
        notifier.notify(notification())  # after stop: dropped quietly, never raises
        assert receiver.count == 25


def test_stop_gives_up_within_its_timeout_and_reports_the_rest(silent_url: str) -> None:
    failures = Failures()
    notifier = WebhookNotifier(
        [WebhookTarget(silent_url)],
        on_failure=failures,
        timeout=timedelta(milliseconds=300),
        backoff=timedelta(seconds=5),
        max_backoff=timedelta(seconds=5),
    )
    notifier.start()
    for i in range(3):
        notifier.notify(notification(request_id=f"r-{i}"))
    started = time.perf_counter()
    notifier.stop(timeout=timedelta(milliseconds=500))
    assert time.perf_counter() - started < 2.5
    assert sorted(n.request.id for n, _, _ in failures.items) == ["r-0", "r-1", "r-2"]
    assert any("stopped" in reason for reason in failures.reasons)


def test_a_failing_on_failure_does_not_kill_the_worker(dead_url: str) -> None:
    with Receiver() as receiver:
        calls: list[str] = []

        def broken(n: Notification, _t: WebhookTarget, _r: str) -> None:
            calls.append(n.request.id)
            raise RuntimeError("the audit store is down")

        targets = [WebhookTarget(dead_url, events=frozenset({"request.denied"})), WebhookTarget(receiver.url)]
        with WebhookNotifier(targets, on_failure=broken, retries=0, **FAST) as notifier:
            notifier.notify(notification("request.denied", request_id="r-x"))
            assert eventually(lambda: calls == ["r-x"])
            notifier.notify(notification("request.denied", request_id="r-y"))
            assert eventually(lambda: calls == ["r-x", "r-y"] and receiver.count == 2)


# ---- configuration ------------------------------------------------------------------------------------------


def test_targets_never_show_their_secrets() -> None:
    target = WebhookTarget(
        "https://hooks.slack.com/services/T0/B0/very-secret", "slack", headers={"Authorization": "Bearer x-secret"}
    )
    assert target.label == "slack https://hooks.slack.com/..."
    assert "very-secret" not in repr(target)
    assert "x-secret" not in repr(target)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("http://hooks.example.com/x", "use https"), ("ftp://127.0.0.1/x", "absolute https URL"), ("/relative", "https")],
)
def test_bad_targets_are_invalid_input(url: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        WebhookTarget(url)


def test_bad_headers_and_settings_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="single-line"):
        WebhookTarget("https://hooks.example.com/x", headers={"X-Evil": "a\r\nHost: other"})
    with pytest.raises(InvalidInput, match="ca_pem"):
        WebhookTarget("https://hooks.example.com/x", ca_pem=b"not a certificate")
    with pytest.raises(InvalidInput, match="queue_size"):
        WebhookNotifier([], queue_size=0)
