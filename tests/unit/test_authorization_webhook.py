"""The broker's answer to kube-apiserver's authorization webhook, on plain values: each answer (allowed, denied by a
guardrail, no opinion), the end time checked on every review, a revoke seen at the next review, bad bodies, the
token check, the dev control plane's AuthorizationConfiguration, and the Cluster that binds nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
from fastapi.testclient import TestClient

from kubejit.adapters.no_bindings import NoBindings
from kubejit.devcluster.authorization import AuthorizationWebhook as DevWebhook
from kubejit.devcluster.authorization import authorization_configuration, webhook_kubeconfig
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import InvalidInput, NotFound, Unauthenticated
from kubejit.domain.exec_commands import parse_pattern
from kubejit.domain.guardrails import ExecRule, Guardrail, RequestRule
from kubejit.domain.policy import AccessPolicy, IdentityMapping, RoleSource
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.workflow import AccessRequest, State
from kubejit.entrypoints.api.app import create_app
from kubejit.ports import BindingRef, Seal, Stored
from kubejit.services.authorization_webhook import AuthorizationWebhook, require_kube_apiserver
from tests.unit.fakes import FakeClock, FakeCluster, FakeStore
from tests.unit.policies import active_grant, policy, profile
from tests.unit.test_api_routes import StandInBroker

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256("test")
VIEW = (PolicyRule(("get", "list", "watch"), ("",), ("pods", "configmaps")),)
EDIT = (PolicyRule(("get", "list", "delete", "create", "patch"), ("",), ("pods", "configmaps", "pods/exec")),)
GUARDRAILS = {
    "careful": Guardrail(
        "careful", deny=(RequestRule("keep-* stays", ("delete",), (), ("configmaps",), (), ("keep-*",)),)
    ),
    "safe-exec": Guardrail("safe-exec", exec=ExecRule((parse_pattern("rm -rf"),), message="refused in JIT")),
}


class RoleRulesByName:
    """The effective rules of the ClusterRoles the profiles name; counts how often the cluster is read."""

    def __init__(self) -> None:
        self.reads = 0

    def rules_of(self, source: RoleSource) -> tuple[PolicyRule, ...] | None:
        self.reads += 1
        return {"view": VIEW, "edit": EDIT}[source.name]


def the_policy(prefix: str = "") -> AccessPolicy:
    ops = profile(
        "payments-ops",
        role=RoleSource(profile().role.kind, "edit"),
        guardrails=("careful", "safe-exec"),
    )
    return replace(
        policy(profile(), ops),
        guardrails=GUARDRAILS,
        identity=IdentityMapping(username_prefix=prefix, groups_prefix=prefix),
    )


def grant(request_id: str = "req-1", profile_name: str = "payments-debug", **changes: object) -> AccessRequest:
    return active_grant(id=request_id, profile=profile_name, **changes)


class World:
    def __init__(self, *grants: AccessRequest, prefix: str = "") -> None:
        self.store, self.clock, self.roles = FakeStore(), FakeClock(AT + timedelta(minutes=1)), RoleRulesByName()
        self.policy = the_policy(prefix)
        for request in grants:
            self.store.db.requests[request.id] = Stored(request, 1)
        self.webhook = AuthorizationWebhook(lambda: self.policy, self.store, self.clock, self.roles)
        self.webhook.prepare()

    def ask(self, user: str = "alice", **attributes: str) -> dict[str, Any]:
        status: dict[str, Any] = self.webhook.review(review(user, **attributes))["status"]
        return status

    def append_event(self, kind: AuditKind, request_id: str) -> None:
        with self.store() as uow:
            uow.audit.append(kind=kind, actor="bob", at=self.clock.now(), request_id=request_id, data={})
            uow.commit()


def review(user: str = "alice", **attributes: str) -> dict[str, Any]:
    groups = ["staff:payments-devs"] if user.startswith("staff:") else ["payments-devs"]
    resource = {"namespace": "payments", "verb": "get", "resource": "pods", "version": "v1", **attributes}
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": {"creationTimestamp": None},
        "spec": {"user": user, "groups": [*groups, "system:authenticated"], "resourceAttributes": resource},
    }


def test_a_covered_request_is_allowed_and_the_answer_is_a_review() -> None:
    world = World(grant())
    answer = world.webhook.review(review())
    assert answer["apiVersion"] == "authorization.k8s.io/v1"
    assert answer["kind"] == "SubjectAccessReview"
    assert answer["status"]["allowed"] is True
    assert "denied" not in answer["status"]
    assert "req-1" in answer["status"]["reason"]


def test_without_a_grant_or_coverage_kubejit_has_no_opinion_and_says_what_to_request() -> None:
    world = World(grant())
    nobody = world.ask("carol")
    assert nobody == {"allowed": False, "reason": nobody["reason"]}  # neither allowed nor denied: RBAC decides
    assert "carol has no active grant" in nobody["reason"]
    outside = world.ask(namespace="elsewhere")
    assert outside["allowed"] is False
    assert "denied" not in outside
    assert "does not cover namespace elsewhere" in outside["reason"]
    write = world.ask(verb="delete", resource="configmaps", name="x")
    assert write["allowed"] is False
    assert "denied" not in write
    assert "kubejit request payments-ops -n payments" in write["reason"]


def test_a_guardrail_deny_is_denied_with_its_message_though_the_rules_allow_it() -> None:
    world = World(grant(profile_name="payments-ops"))
    refused = world.ask(verb="delete", resource="configmaps", name="keep-me")
    assert refused == {"allowed": False, "denied": True, "reason": refused["reason"]}
    assert "refused by guardrail careful.deny[0]: keep-* stays" in refused["reason"]
    assert world.ask(verb="delete", resource="configmaps", name="scratch")["allowed"] is True


@pytest.mark.parametrize(
    "attributes",
    [
        {"verb": "create", "resource": "pods", "subresource": "exec", "name": "app"},
        {"verb": "get", "resource": "pods", "subresource": "exec", "name": "app"},
        {"verb": "create", "resource": "pods", "name": "new"},
        {"verb": "patch", "resource": "pods", "name": "app"},
    ],
)
def test_what_the_exec_guardrail_must_see_is_denied_in_this_mode(attributes: dict[str, str]) -> None:
    world = World(grant(profile_name="payments-ops"))
    refused = world.ask(**attributes)
    assert refused["denied"] is True
    assert "refused by guardrail safe-exec.exec: refused in JIT: " in refused["reason"]
    assert "through the kubejit gateway" in refused["reason"]
    assert world.ask(verb="delete", resource="pods", name="app")["allowed"] is True  # no command in a delete


def test_a_grant_ends_exactly_at_its_end_time_though_nothing_moved_in_the_store() -> None:
    world = World(grant())
    world.clock.at = AT + timedelta(minutes=30) - timedelta(microseconds=1)
    assert world.ask()["allowed"] is True
    world.clock.at = AT + timedelta(minutes=30)
    ended = world.ask()
    assert ended["allowed"] is False
    assert "ended at" in ended["reason"]


def test_a_revoke_is_seen_at_the_next_review_and_the_store_is_read_again_only_when_the_trail_moved() -> None:
    world = World(grant())
    assert world.ask()["allowed"] is True
    revoked = replace(grant(), state=State.REVOKED)
    world.store.db.requests["req-1"] = Stored(revoked, 2)
    assert world.ask()["allowed"] is True, (
        "the trail did not move: the cached grants stand (the broker's writes move it)"
    )
    world.append_event(AuditKind.GRANT_REVOKED, "req-1")
    assert world.ask()["allowed"] is False


def test_an_untrusted_row_is_no_grant() -> None:
    world = World()
    world.store.db.requests["req-1"] = Stored(grant(), 1, Seal.BROKEN)
    assert world.ask()["allowed"] is False
    world.store.db.requests["req-2"] = Stored(grant("req-2", reviews=()), 1)  # nobody approved it
    world.append_event(AuditKind.REQUEST_SUBMITTED, "req-2")
    assert world.ask()["allowed"] is False


def test_the_policys_prefixes_map_the_clusters_names_back_to_the_person() -> None:
    world = World(grant(), prefix="staff:")
    assert world.ask("staff:alice")["allowed"] is True
    stranger = world.ask("alice")
    assert stranger["allowed"] is False
    assert "not a user kubejit manages" in stranger["reason"]


def test_the_profiles_rules_are_resolved_once_per_policy_not_per_review() -> None:
    world = World(grant())
    reads = world.roles.reads
    for _ in range(5):
        world.ask()
    assert world.roles.reads == reads
    world.policy = the_policy()  # a reload: the broker calls prepare(); a review would resolve it once otherwise
    world.ask()
    world.ask()
    assert world.roles.reads == reads + 2  # both profiles, once


def test_non_resource_reviews_are_read_too() -> None:
    world = World(grant())
    body = review()
    del body["spec"]["resourceAttributes"]
    body["spec"]["nonResourceAttributes"] = {"path": "/metrics", "verb": "get"}
    status = world.webhook.review(body)["status"]
    assert status["allowed"] is False
    assert "denied" not in status


def _without(key: str) -> dict[str, Any]:
    body = review()
    del body["spec"][key]
    return body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "must be a SubjectAccessReview object"),
        ({**review(), "apiVersion": "authorization.k8s.io/v1beta1"}, "subjectAccessReviewVersion: v1"),
        ({**review(), "spec": "x"}, "spec: must be an object"),
        (_without("user"), "spec.user: a review must name its user"),
        (_without("resourceAttributes"), "exactly one of resourceAttributes and nonResourceAttributes"),
        ({**review(), "spec": {**review()["spec"], "groups": "admins"}}, "spec.groups: must be a list of strings"),
        (review(verb=""), "verb and resource are required"),
        ({**review(), "spec": {**review()["spec"], "resourceAttributes": {"verb": 1}}}, "resourceAttributes.verb"),
    ],
)
def test_a_body_that_is_not_a_v1_review_is_refused_never_allowed(body: object, words: str) -> None:
    world = World(grant())
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(")):
        world.webhook.review(body)


def test_only_the_token_whose_hash_is_configured_is_accepted() -> None:
    require_kube_apiserver("test", TOKEN_SHA256)
    for wrong in ("", None, "tesT", "test "):
        with pytest.raises(Unauthenticated):
            require_kube_apiserver(wrong, TOKEN_SHA256)
    with pytest.raises(NotFound):
        require_kube_apiserver("test", None)


def test_no_bindings_binds_nothing_but_still_removes_old_bindings() -> None:
    old = BindingRef("req-1", "RoleBinding", "kubejit-req-1", "payments")
    rbac = FakeCluster(bindings={"req-1": [old]})
    cluster = NoBindings(rbac)
    assert cluster.bind(grant(), profile(), IdentityMapping(), AT) == []
    cluster.set_end("req-1", AT)
    assert rbac.calls == []
    assert cluster.managed_bindings() == [old]
    assert cluster.unbind("req-1", ("payments",)) == [old]


def test_the_dev_authorization_configuration_asks_kubejit_first_and_never_about_system_users() -> None:
    webhook = DevWebhook("https://127.0.0.1:8443", "t0ken", ca_pem=b"PEM", user_prefix="staff:", excluded_users=("kj",))
    document = authorization_configuration(webhook, Path("wh.kubeconfig"))
    first, second = document["authorizers"]
    assert (first["type"], first["name"], second["type"]) == ("Webhook", "kubejit.io", "RBAC")
    settings = first["webhook"]
    assert settings["failurePolicy"] == "Deny"
    assert settings["cacheAuthorizedRequests"] is False
    assert settings["cacheUnauthorizedRequests"] is False
    assert settings["subjectAccessReviewVersion"] == settings["matchConditionSubjectAccessReviewVersion"] == "v1"
    expressions = [c["expression"] for c in settings["matchConditions"]]
    assert expressions == [
        "request.user.startsWith('staff:')",
        "!request.user.startsWith('system:')",
        "!('system:masters' in request.groups)",
        "request.user != 'kj'",
    ]
    kubeconfig = webhook_kubeconfig(webhook)
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:8443/api/v1/authorization/review"
    assert kubeconfig["users"][0]["user"] == {"token": "t0ken"}


def _client(world: World, configured: bool = True) -> TestClient:
    settings = SimpleNamespace(client_token_sha256=TOKEN_SHA256) if configured else None
    broker = StandInBroker(config=SimpleNamespace(gateway=None, authorization_webhook=settings))
    broker.authorization = world.webhook  # type: ignore[attr-defined]
    return TestClient(create_app(cast("Broker", broker)))


def test_the_route_answers_kube_apiserver_alone_and_refuses_bad_bodies_with_a_400() -> None:
    client = _client(World(grant()))
    path = "/api/v1/authorization/review"
    answered = client.post(path, json=review(), headers={"Authorization": "Bearer test"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"]["allowed"] is True
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test"}):
        refused = client.post(path, json=review(), headers=headers)
        assert refused.status_code == 401, headers
        assert "allowed" not in refused.text
    bad = client.post(path, json={"kind": "SubjectAccessReview"}, headers={"Authorization": "Bearer test"})
    assert bad.status_code == 400
    assert "subjectAccessReviewVersion: v1" in bad.json()["error"]["message"]
    not_json = client.post(path, content=b"{", headers={"Authorization": "Bearer test"})
    assert not_json.status_code == 400
    off = _client(World(grant()), configured=False).post(path, json=review(), headers={"Authorization": "Bearer test"})
    assert off.status_code == 404
