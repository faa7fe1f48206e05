"""The broker API's routers against a stand-in broker (the real services on fakes): the paths and methods the
API offers, authentication, and kubejit's errors in HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
from fastapi.testclient import TestClient

from kubejit.adapters.metrics import BrokerMetrics
from kubejit.domain.errors import Unauthenticated
from kubejit.domain.policy import Identity
from kubejit.entrypoints.api.app import create_app
from kubejit.entrypoints.api.body_limit import MAX_ACTIVITY_BODY_BYTES, MAX_BODY_BYTES, limit_for
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService
from tests.unit.fakes import FakeClock, FakeStore, MemoryCheckpoints, RecordingNotifier
from tests.unit.policies import PEOPLE, policy, profile, quorum_of_two

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

POLICY = policy(profile(), quorum_of_two())

# What the OpenAPI document offers, with each operation's summary: a change here is a change of the API.
OPERATIONS = {
    ("GET", "/api/v1/audit"): "Audit",
    ("GET", "/api/v1/audit/export"): "Audit Export",
    ("GET", "/api/v1/audit/verify"): "Audit Verify",
    ("POST", "/api/v1/gateway/activity"): "Gateway Activity",
    ("POST", "/api/v1/authorization/review"): "Authorization Review",
    ("GET", "/api/v1/profiles"): "List Profiles",
    ("GET", "/api/v1/profiles/{name}/usage"): "Profile Usage",
    ("GET", "/api/v1/gateway/grants"): "Gateway Grants",
    ("GET", "/api/v1/gateway/grants/stream"): "Gateway Grants Stream",
    ("GET", "/api/v1/gateway/info"): "Gateway Info",
    ("GET", "/api/v1/grants"): "Grants",
    ("GET", "/api/v1/login/options"): "Login Options",
    ("GET", "/api/v1/requests"): "List Requests",
    ("POST", "/api/v1/requests"): "Create Request",
    ("GET", "/api/v1/requests/{request_id}"): "Get Request",
    ("GET", "/api/v1/sessions"): "Sessions",
    ("POST", "/api/v1/requests/{request_id}/approve"): "Approve",
    ("POST", "/api/v1/requests/{request_id}/break-glass-review/{verdict}"): "Review Break Glass",
    ("POST", "/api/v1/requests/{request_id}/cancel"): "Cancel",
    ("POST", "/api/v1/requests/{request_id}/deny"): "Deny",
    ("POST", "/api/v1/requests/{request_id}/extend"): "Extend",
    ("POST", "/api/v1/requests/{request_id}/extension/{verdict}"): "Review Extension",
    ("POST", "/api/v1/requests/{request_id}/revoke"): "Revoke",
    ("POST", "/api/v1/requests/{request_id}/token"): "Grant Token",
    ("GET", "/api/v1/whoami"): "Whoami",
}


class NamedTokens:
    """A verifier whose tokens are the users' names."""

    def verify(self, token: str) -> Identity:
        for person in PEOPLE:
            if person.user == token:
                return person
        raise Unauthenticated("not a token")


@dataclass
class StandInBroker:
    """What the routes read from a Broker, built from the services on fakes (no cluster, no database)."""

    clock: FakeClock = field(default_factory=FakeClock)
    store: FakeStore = field(default_factory=FakeStore)
    verifier: NamedTokens = field(default_factory=NamedTokens)
    metrics: BrokerMetrics = field(default_factory=BrokerMetrics)
    config: Any = field(default_factory=lambda: SimpleNamespace(gateway=None))
    gateway: None = None

    def __post_init__(self) -> None:
        ids = iter(f"req-{n:04d}" for n in range(1, 10_000))
        self.access = AccessService(
            lambda: POLICY,
            self.store,
            self.clock,
            RecordingNotifier(),
            wake_keeper=lambda: None,
            new_id=lambda: next(ids),
        )
        self.audit = AuditService(lambda: POLICY, self.store, self.clock, MemoryCheckpoints())

    def readiness(self) -> tuple[bool, str]:
        return True, "leader"


@pytest.fixture
def broker() -> StandInBroker:
    return StandInBroker()


@pytest.fixture
def client(broker: StandInBroker) -> TestClient:
    return TestClient(create_app(cast("Broker", broker)))


def _as(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user}"}


def _errors_counted(broker: StandInBroker, kind: str) -> float | None:
    return broker.metrics.registry.get_sample_value("kubejit_api_errors_total", {"kind": kind})


def test_the_api_offers_the_same_paths_methods_and_summaries(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    offered = {
        (method.upper(), path): op["summary"] for path, ops in document["paths"].items() for method, op in ops.items()
    }
    assert offered == OPERATIONS
    assert set(document["components"]["schemas"]) >= {"RequestIn", "RequestOut", "ErrorEnvelope", "VerifyOut"}


def test_health_and_metrics_answer_without_a_token(client: TestClient) -> None:
    assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok")
    assert (client.get("/readyz").status_code, client.get("/readyz").text) == (200, "leader")
    assert "kubejit_api_errors" in client.get("/metrics").text


def test_a_request_goes_through_submit_approve_and_get(client: TestClient) -> None:
    body = {"profile": "payments-debug", "namespaces": ["payments"], "duration": "30m", "reason": "INC-1 errors"}
    created = client.post("/api/v1/requests", json=body, headers=_as("alice"))
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    approved = client.post(f"/api/v1/requests/{request_id}/approve", json={"comment": "ok"}, headers=_as("bob"))
    assert approved.status_code == 200, approved.text
    assert [r["reviewer"] for r in approved.json()["reviews"]] == ["bob"]
    mine = client.get("/api/v1/requests", params={"mine": True}, headers=_as("alice")).json()
    assert [r["id"] for r in mine] == [request_id]
    assert client.get("/api/v1/whoami", headers=_as("alice")).json() == {"user": "alice", "groups": ["payments-devs"]}


def test_no_token_is_a_401_with_a_bearer_challenge(client: TestClient) -> None:
    answer = client.get("/api/v1/requests")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="kubejit"'
    assert answer.json()["error"]["message"].startswith("send an ID token")
    assert client.get("/api/v1/requests", headers={"Authorization": "Basic x"}).status_code == 401


def test_kubejits_errors_are_answered_from_the_error_table_and_counted(
    client: TestClient, broker: StandInBroker
) -> None:
    body = {"profile": "payments-debug", "namespaces": ["payments"], "reason": "INC-1 errors"}
    request_id = client.post("/api/v1/requests", json=body, headers=_as("alice")).json()["id"]
    self_approval = client.post(f"/api/v1/requests/{request_id}/approve", json={}, headers=_as("alice"))
    assert self_approval.status_code == 403
    assert self_approval.json()["error"]["type"] == "refused"
    missing = client.get("/api/v1/requests/req-nope", headers=_as("alice"))
    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "not-found")
    assert _errors_counted(broker, "Refused") == 1
    assert _errors_counted(broker, "NotFound") == 1


def test_an_invalid_body_is_a_400_that_names_the_field(client: TestClient) -> None:
    answer = client.post("/api/v1/requests", json={"profile": "", "surprise": 1}, headers=_as("alice"))
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert message.startswith("the request body is not valid: ")
    assert "profile" in message
    assert "surprise" in message


def test_bodies_over_the_limit_are_refused_before_the_token_is_checked(client: TestClient) -> None:
    answer = client.post("/api/v1/requests", content=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "too-large"
    assert limit_for("/api/v1/gateway/activity") == MAX_ACTIVITY_BODY_BYTES > MAX_BODY_BYTES


def test_without_a_gateway_its_routes_are_not_found(client: TestClient) -> None:
    assert client.get("/.well-known/kubejit-gateway-keys").status_code == 404
    assert client.get("/api/v1/gateway/info", headers=_as("alice")).status_code == 404
    assert client.get("/api/v1/gateway/grants", headers=_as("x")).status_code == 404
    assert client.post("/api/v1/requests/req-1/token", headers=_as("alice")).status_code == 404


def test_audit_since_needs_a_time_zone(client: TestClient) -> None:
    answer = client.get("/api/v1/audit", params={"since": "2026-11-28T12:00:00"}, headers=_as("dave"))
    assert answer.status_code == 400
    assert "time zone" in answer.json()["error"]["message"]
