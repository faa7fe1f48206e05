"""Anomaly alerts end to end: the real control plane, a broker and a gateway (separate processes), real kubectl
sessions that trigger rules of the policy's ``spec.alerts``, and a webhook receiver that takes ``alert.raised``
only. Each alert arrives naming its grant, user, rule and evidence; a ``revoke`` rule ends the grant, and kubectl
is refused afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubejit.devcluster.cluster import DevCluster
from tests.conftest import eventually
from tests.e2e.conftest import WebhookSink
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, gateway_env, namespace_with_pod

EXTRA_PROFILES = """\
    - name: cleanup
      rules:
        - {apiGroups: [""], resources: [events, configmaps], verbs: [get, list, delete]}
      namespaces: ["g-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      guardrails: [no-destructive]
    - name: emergency
      clusterRole: view
      namespaces: ["g-*"]
      requesters: {groups: [payments-leads]}
      approval: {approvers: {groups: [payments-leads]}}
      breakGlass: {allowed: {groups: [sre-oncall]}, maxDuration: 20m}
"""
ALERTS = """\
  alerts:
    - {kind: secret-burst, threshold: 3, profiles: [secrets-read]}
    - {kind: forbidden-burst, threshold: 3, window: 1m, profiles: [debug]}
    - {kind: event-deletion}
    - {kind: break-glass}
    - {name: cut-on-guardrail, kind: guardrail-denial, action: revoke, profiles: [cleanup]}
"""
POLICY = GATEWAY_POLICY.replace("\n  guardrails:\n", "\n" + EXTRA_PROFILES + "  guardrails:\n", 1) + ALERTS
ARRIVAL = 1.5  # seconds from kubectl's return to the receiver; bench/alert_latency.py measures the real figure


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def env(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> Iterator[GatewayEnv]:
    hook = {"url": sink.url, "format": "generic", "events": ["alert.raised"]}
    with gateway_env(
        devcluster, tmp_path_factory.mktemp("alerts"), name="alerts", policy=POLICY, webhooks=[hook]
    ) as environment:
        yield environment


@pytest.fixture
def ns(devcluster: DevCluster) -> str:
    return namespace_with_pod(devcluster)


def session(env: GatewayEnv, user: str, profile: str, ns: str) -> tuple[str, Path]:
    grant = env.grant(user, profile, ns)
    return grant, env.kubeconfig(env.token(user, grant), ns)


def alert_for(sink: WebhookSink, grant: str, rule: str, since: float) -> dict[str, Any]:
    """The alert.raised notification of ``rule`` on ``grant``, waited for; fails if it is not there within
    ARRIVAL seconds of ``since`` (a monotonic time)."""
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [
            n for n in list(sink.received) if n["request"]["id"] == grant and n.get("alert", {}).get("rule") == rule
        ]
        return bool(found)

    assert eventually(arrived, timeout=10), f"no {rule} alert for {grant}; received: {sink.received}"
    took = time.monotonic() - since
    assert took < ARRIVAL, f"the {rule} alert took {took:.2f} s"
    notification = found[0]
    assert notification["event"] == "alert.raised"
    assert notification["alert"]["rule"] == rule
    assert rule in notification["message"]
    return notification


def test_a_burst_of_secret_reads_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    for name in ("s1", "s2", "s3"):
        env.cluster.kubectl("create", "secret", "generic", name, "-n", ns, "--from-literal=k=v", check=True)
    grant, config = session(env, "carol", "secrets-read", ns)
    for name in ("s1", "s2"):
        assert env.kubectl(config, "get", "secret", name).returncode == 0
        assert env.kubectl(config, "get", "secret", name).returncode == 0  # read again: still one Secret
    time.sleep(1)
    assert not [n for n in sink.received if n["request"]["id"] == grant]  # 2 distinct Secrets: below the threshold
    assert env.kubectl(config, "get", "secret", "s3").returncode == 0
    alert = alert_for(sink, grant, "secret-burst", time.monotonic())
    assert alert["request"]["requester"] == "carol"
    assert alert["alert"]["user"] == "carol"
    assert sorted(e["name"] for e in alert["alert"]["evidence"]) == ["s1", "s2", "s3"]
    audited = [e for e in env.audit(grant) if e["kind"] == "alert.raised"]
    assert [e["data"]["rule"] for e in audited] == ["secret-burst"]
    evidence_seqs = {e["seq"] for e in alert["alert"]["evidence"]}
    assert evidence_seqs <= {e["seq"] for e in env.audit(grant) if e["kind"] == "activity.request"}


def test_many_403s_inside_one_grant_raise_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    grant, config = session(env, "alice", "debug", ns)
    for _ in range(3):
        assert env.kubectl(config, "get", "secrets").returncode != 0  # view does not read Secrets: 403
    alert = alert_for(sink, grant, "forbidden-burst", time.monotonic())
    assert [e["status"] for e in alert["alert"]["evidence"]] == [403, 403, 403]
    assert {e["resource"] for e in alert["alert"]["evidence"]} == {"secrets"}


def test_deleting_events_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    manifest = (
        f"apiVersion: v1\nkind: Event\nmetadata: {{name: evidence, namespace: {ns}}}\n"
        f"involvedObject: {{kind: Pod, name: app, namespace: {ns}}}\nreason: Test\nmessage: something happened\n"
    )
    env.cluster.kubectl("apply", "-f", "-", input_text=manifest, check=True)
    grant, config = session(env, "alice", "cleanup", ns)
    deleted = env.kubectl(config, "delete", "event", "evidence")
    assert deleted.returncode == 0, deleted.stderr
    alert = alert_for(sink, grant, "event-deletion", time.monotonic())
    assert [(e["verb"], e["resource"], e["name"]) for e in alert["alert"]["evidence"]] == [
        ("delete", "events", "evidence")
    ]


def test_using_break_glass_raises_an_alert(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    with env.api("carol") as carol:
        body = {"profile": "emergency", "namespaces": [ns], "duration": "10m", "reason": "INC-9", "breakGlass": True}
        created = carol.post("/api/v1/requests", json=body)
        created.raise_for_status()
        grant = str(created.json()["id"])
        assert eventually(lambda: carol.get(f"/api/v1/requests/{grant}").json()["state"] == "active")
    config = env.kubeconfig(env.token("carol", grant), ns)
    assert env.kubectl(config, "get", "pods").returncode == 0
    alert = alert_for(sink, grant, "break-glass", time.monotonic())
    assert alert["request"]["break_glass"] is True
    assert alert["alert"]["evidence"]


def test_a_revoke_rule_ends_the_grant_at_once(env: GatewayEnv, sink: WebhookSink, ns: str) -> None:
    env.cluster.kubectl("create", "configmap", "keep-me", "-n", ns, check=True)
    grant, config = session(env, "alice", "cleanup", ns)
    assert env.kubectl(config, "get", "configmaps").returncode == 0
    refused = env.kubectl(config, "delete", "configmap", "keep-me")
    assert "keep-* configmaps stay" in refused.stderr
    alert = alert_for(sink, grant, "cut-on-guardrail", time.monotonic())
    assert alert["alert"]["action"] == "revoke"
    with env.api("alice") as me:
        assert eventually(lambda: me.get(f"/api/v1/requests/{grant}").json()["state"] == "revoked", timeout=5)
        ended = me.get(f"/api/v1/requests/{grant}").json()
    assert ended["endedBy"] == "kubejit"
    assert "alert rule cut-on-guardrail" in ended["endReason"]

    # Two refusals may come first, in either order: RBAC's, once the keeper deleted the binding, and the
    # gateway's own, once its grant stream told it of the revoke; the gateway's comes within the stream's delay.
    def gateway_refuses() -> bool:
        after = env.kubectl(config, "get", "configmaps")
        return after.returncode != 0 and ("not active" in after.stderr or "revoked" in after.stderr)

    assert eventually(gateway_refuses, timeout=5)
    kinds = [e["kind"] for e in env.audit(grant)]
    assert kinds.index("alert.raised") < kinds.index("grant.revoked")
