"""Webhook bodies, targets and what one delivery attempt's answer means, without a network.

Rendering is checked on its own (escaping, cut-offs, the JSON bytes); one attempt is made against an in-memory
httpx transport that answers with a chosen status, to pin down which answers are retried, which are permanent,
and that reasons never quote the target's URL. Real receivers and the worker threads are in
tests/integration/test_webhook_notifier.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kubejit.adapters.notify import WebhookTarget, slack_payload
from kubejit.adapters.notify._delivery import Outcome, delivery_headers, post_once
from kubejit.adapters.notify._rendering import render
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import Notification

AT = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
SECRET_URL = "https://hooks.example.com/services/T0/B0/s3cr3t"


def notification(reason: str = "INC-1 <!channel>", message: str = "alice asks for payments-debug") -> Notification:
    request = AccessRequest(
        id="r-1",
        requester=Identity("alice", frozenset({"payments-devs"})),
        profile="payments-debug",
        namespaces=("payments",),
        duration=timedelta(minutes=30),
        reason=reason,
        created_at=AT,
        state=State.PENDING,
    )
    return Notification("request.pending", request, AT, message)


# ---- rendering ------------------------------------------------------------------------------------------------


def test_render_gives_utf8_json_in_the_target_format() -> None:
    generic = json.loads(render(notification(message="café"), "generic"))
    assert generic["message"] == "café"
    assert generic["request"]["ends_at"] is None
    assert set(json.loads(render(notification(), "slack"))) == {"text", "blocks"}
    assert "café".encode() in render(notification(message="café"), "generic")


def test_slack_text_is_escaped_and_cut_short() -> None:
    body = slack_payload(notification(reason="<@U123> & <https://evil.example|click>"))
    assert "<@U123>" not in json.dumps(body)
    assert "<https://" not in json.dumps(body)
    assert "&lt;@U123&gt; &amp; &lt;https://evil.example|click&gt;" in body["text"]
    text = slack_payload(notification(reason="x" * 600, message="m" * 1200))["text"]
    assert "x" * 499 + "…" in text
    assert "x" * 500 not in text
    assert "m" * 999 + "…" in text
    assert "m" * 1000 not in text
    assert "30m once active" in text


# ---- targets --------------------------------------------------------------------------------------------------


def test_a_target_is_named_by_its_label_only() -> None:
    target = WebhookTarget(SECRET_URL, "slack", events=frozenset({"request.pending"}), headers={"X-Token": "t0k"})
    assert target.label == "slack https://hooks.example.com/..."
    assert "s3cr3t" not in repr(target)
    assert "t0k" not in repr(target)
    assert target.wants("request.pending")
    assert not target.wants("grant.active")
    assert WebhookTarget("http://localhost:8080/").label == "generic http://localhost:8080"


def test_delivery_headers_carry_the_event_an_id_and_the_targets_headers() -> None:
    target = WebhookTarget(SECRET_URL, headers={"Authorization": "Bearer hook"})
    headers = delivery_headers(notification(), target)
    assert headers["X-Kubejit-Event"] == "request.pending"
    assert len(headers["X-Kubejit-Delivery"]) == 32
    assert headers["Authorization"] == "Bearer hook"
    assert delivery_headers(notification(), target)["X-Kubejit-Delivery"] != headers["X-Kubejit-Delivery"]


# ---- one attempt ----------------------------------------------------------------------------------------------


def answering(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        transport=httpx.MockTransport(lambda _request: httpx.Response(status, content=body, headers=headers))
    )


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [
        (200, Outcome.DELIVERED, ""),
        (204, Outcome.DELIVERED, ""),
        (408, Outcome.RETRY, "HTTP 408"),
        (429, Outcome.RETRY, "HTTP 429"),
        (503, Outcome.RETRY, "HTTP 503"),
        (302, Outcome.PERMANENT, "HTTP 302: redirects are not followed; configure the final URL"),
        (404, Outcome.PERMANENT, "HTTP 404: no_such_hook"),
        (100, Outcome.RETRY, "HTTP 100"),
    ],
)
def test_answers_are_delivered_retried_or_permanent(status: int, outcome: Outcome, reason: str) -> None:
    with answering(status, b"no_such_hook\n") as client:
        answer = post_once(client, WebhookTarget(SECRET_URL), b"{}", {}, 5.0)
    assert (answer.outcome, answer.reason) == (outcome, reason)


def test_retry_after_in_seconds_is_kept_and_dates_are_ignored() -> None:
    with answering(429, headers={"Retry-After": "3"}) as client:
        assert post_once(client, WebhookTarget(SECRET_URL), b"{}", {}, 5.0).retry_after == 3.0
    with answering(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) as client:
        assert post_once(client, WebhookTarget(SECRET_URL), b"{}", {}, 5.0).retry_after is None


def test_transport_errors_are_retried_and_never_quote_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    def slow(_request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    target = WebhookTarget(SECRET_URL)
    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        answer = post_once(client, target, b"{}", {}, 5.0)
    assert answer.outcome is Outcome.RETRY
    assert answer.reason == "could not connect (ConnectError: cannot connect to generic https://hooks.example.com/...)"
    with httpx.Client(transport=httpx.MockTransport(slow)) as client:
        assert post_once(client, target, b"{}", {}, 0.25).reason == "no answer within 0.25s"
