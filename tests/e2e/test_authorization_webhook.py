"""Authorization-webhook mode against the real control plane: kube-apiserver asks the broker (a real ``kubejit serve``)
about each request of the dev users, before RBAC, and the broker makes no RBAC bindings at all.

The users reach kube-apiserver directly with their ID tokens (their dev kubeconfigs), with real kubectl: no gateway.
The control plane is this module's own (its AuthorizationConfiguration names the broker's port, chosen first).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.authorization import AuthorizationWebhook
from kubejit.devcluster.broker import BrokerProcess, authorization_webhook_section, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.process import free_port
from tests.conftest import eventually
from tests.e2e.conftest import Jit

WEBHOOK_POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: webhook-e2e}
spec:
  admins: {groups: [platform-admins]}
  auditors: {groups: [auditors]}
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: ops
      rules:
        - {apiGroups: [""], resources: [pods, configmaps], verbs: [get, list, watch, create, delete, patch]}
        - {apiGroups: [""], resources: [pods/exec], verbs: [create, get]}
      namespaces: ["w-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      allowRisks:
        - {id: pods-exec, justification: "exec is guarded (and refused in webhook mode)"}
        - {id: pods-create, justification: test workloads}
      guardrails: [no-destructive, safe-exec]
  guardrails:
    - name: no-destructive
      deny:
        - {verbs: [delete], resources: [configmaps], names: ["keep-*"], message: keep-* configmaps stay}
    - name: safe-exec
      exec:
        denyCommands: ["rm -rf"]
        message: this command is refused in a JIT session
  alerts:
    - {name: webhook-guardrail, kind: guardrail-denial}
    - {name: webhook-stray, kind: outside-namespaces}
"""


@dataclass
class WebhookEnv:
    cluster: DevCluster
    config: Path
    broker: BrokerProcess

    @property
    def jit(self) -> Jit:
        return Jit(self.cluster, self.broker.url)

    def restart(self) -> None:
        self.broker.stop()
        self.broker = start_broker(self.config, log_name="webhook-broker")


@pytest.fixture(scope="module")
def webhook_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookEnv]:
    directory = tmp_path_factory.mktemp("authorization-webhook")
    port, token = free_port(), secrets.token_urlsafe(32)
    cluster = DevCluster(directory / "cluster", with_kwok=False, with_controllers=False)
    # The broker serves HTTPS with a certificate from the cluster's CA, on the port chosen before the cluster starts.
    cluster.authorization_webhook = AuthorizationWebhook(f"https://127.0.0.1:{port}", token, ca_pem=cluster.ca.cert_pem)
    with cluster, pytest.MonkeyPatch.context() as patch:
        policy_file = directory / "policy.yaml"
        policy_file.write_text(WEBHOOK_POLICY)
        kubeconfig = install_broker_access(
            cluster, load_policy_file(policy_file), directory / "broker.kubeconfig", namespace="kubejit-webhook"
        )
        config = broker_config(
            cluster,
            directory,
            policy_file=policy_file,
            broker_kubeconfig=kubeconfig,
            namespace="kubejit-webhook",
            instance="webhook",
            port=port,
            authorization_webhook=authorization_webhook_section(token),
            serve_tls=True,
        )
        patch.setenv("KUBEJIT_CA", str(directory / "dev-ca.crt"))  # for the kubejit CLI against the HTTPS broker
        env = WebhookEnv(cluster, config, start_broker(config, log_name="webhook-broker"))
        try:
            yield env
        finally:
            env.broker.stop()


def fresh_namespace(cluster: DevCluster) -> str:
    name = f"w-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name, check=True)
    cluster.kubectl("create", "configmap", "keep-me", "-n", name, check=True)
    cluster.kubectl("create", "configmap", "scratch", "-n", name, check=True)
    return name


def can_list_configmaps(cluster: DevCluster, namespace: str, user: str = "alice") -> bool:
    return cluster.kubectl("get", "configmaps", "-n", namespace, user=user).returncode == 0


def granted(env: WebhookEnv, namespace: str, duration: str = "10m") -> str:
    created = env.jit.request("alice", "ops", namespace, duration=duration)
    env.jit("bob", "approve", created["id"])
    assert eventually(lambda: can_list_configmaps(env.cluster, namespace), timeout=10)
    return str(created["id"])


def kubejit_bindings(cluster: DevCluster) -> str:
    found = cluster.kubectl("get", "rolebindings,clusterrolebindings", "-A", "-l", "kubejit.io/grant-id", "-o", "name")
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


def test_a_grant_works_with_no_binding_and_its_guardrails_hold_for_plain_kubectl(webhook_env: WebhookEnv) -> None:
    cluster = webhook_env.cluster
    namespace = fresh_namespace(cluster)
    before = cluster.kubectl("get", "configmaps", "-n", namespace, user="alice")
    assert before.returncode != 0
    assert "Forbidden" in before.stderr
    assert "kubejit request ops" in before.stderr, before.stderr  # the webhook's reason says what to request

    grant = granted(webhook_env, namespace)
    assert kubejit_bindings(cluster) == "", "authorization-webhook mode without bindings makes no RBAC binding"
    assert can_list_configmaps(cluster, namespace, user="carol") is False, "the grant is alice's alone"

    refused = cluster.kubectl("delete", "configmap", "keep-me", "-n", namespace, user="alice")
    assert refused.returncode != 0
    assert "refused by guardrail no-destructive.deny[0]: keep-* configmaps stay" in refused.stderr, refused.stderr
    assert cluster.kubectl("get", "configmap", "keep-me", "-n", namespace).returncode == 0
    deleted = cluster.kubectl("delete", "configmap", "scratch", "-n", namespace, user="alice")
    assert deleted.returncode == 0, deleted.stderr  # the profile's rules allow it, and no guardrail refuses

    pod = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: app, namespace: {namespace}}}\nspec:\n  containers: [{{name: main, image: registry.example/app:1}}]\n"  # noqa: E501
    cluster.kubectl("apply", "-f", "-", input_text=pod, check=True)
    exec_refused = cluster.kubectl("exec", "-n", namespace, "app", "--", "ls", user="alice")
    assert exec_refused.returncode != 0
    assert "authorization webhook does not see the command" in exec_refused.stderr, exec_refused.stderr
    assert "safe-exec.exec" in exec_refused.stderr

    webhook_env.jit("alice", "revoke", grant, "--reason", "done")
    revoked_at = time.monotonic()
    assert eventually(lambda: not can_list_configmaps(cluster, namespace), timeout=5, interval=0.02)
    took = time.monotonic() - revoked_at
    assert took < 1.5, f"refused {took:.2f}s after the revoke returned"  # kubectl itself takes ~0.1-0.3 s a call
    print(f"revoke -> refused through kube-apiserver: {took:.2f}s")


def test_a_grant_ends_exactly_at_its_end_time(webhook_env: WebhookEnv) -> None:
    cluster = webhook_env.cluster
    namespace = fresh_namespace(cluster)
    grant = granted(webhook_env, namespace, duration="8s")
    ends_at = dt.datetime.fromisoformat(webhook_env.jit.json("alice", "get", grant)["endsAt"])
    remaining = (ends_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert remaining > 1, "the grant ended before the test could look"
    assert can_list_configmaps(cluster, namespace)
    while dt.datetime.now(dt.UTC) < ends_at:
        time.sleep(0.05)
    assert not can_list_configmaps(cluster, namespace), "the first request after the end time is refused"
    assert kubejit_bindings(cluster) == ""


def test_the_webhook_survives_a_restart_and_fails_closed_while_the_broker_is_down(webhook_env: WebhookEnv) -> None:
    cluster = webhook_env.cluster
    namespace = fresh_namespace(cluster)
    granted(webhook_env, namespace)

    webhook_env.broker.stop()
    try:
        down = cluster.kubectl("get", "configmaps", "-n", namespace, user="alice")
        assert down.returncode != 0, "failurePolicy Deny: refused while the broker cannot be reached"
        assert "authorization/review" in down.stderr, down.stderr  # kube-apiserver: the webhook call failed
        # kube-apiserver answers 500, which kubectl shows as "Error from server (InternalError)", not Forbidden
        assert "Error from server (InternalError)" in down.stderr, down.stderr
        assert cluster.kubectl("get", "namespaces").returncode == 0, "the admin is never sent to the webhook"
    finally:
        webhook_env.broker = start_broker(webhook_env.config, log_name="webhook-broker-2")
    assert can_list_configmaps(cluster, namespace), "the restarted broker answers from the same store"


def test_the_webhooks_refusals_raise_alerts_without_recording_every_review(webhook_env: WebhookEnv) -> None:
    cluster = webhook_env.cluster
    namespace = fresh_namespace(cluster)
    grant = granted(webhook_env, namespace)
    denied = cluster.kubectl("delete", "configmap", "keep-me", "-n", namespace, user="alice")
    assert "refused by guardrail no-destructive.deny[0]" in denied.stderr, denied.stderr
    assert cluster.kubectl("get", "configmaps", "-n", "w-not-granted", user="alice").returncode != 0

    def trail(*kinds: str) -> list[dict[str, Any]]:  # `kubejit audit -o json` prints JSON lines
        out = webhook_env.jit("dave", "audit", "--grant", grant, *(f"--kind={k}" for k in kinds), "-o", "json")
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def alerts() -> dict[str, dict[str, Any]]:
        return {str(e["data"]["rule"]): e["data"] for e in trail("alert.raised")}

    assert eventually(lambda: {"webhook-guardrail", "webhook-stray"} <= set(alerts()), timeout=5)
    raised = alerts()
    (evidence,) = raised["webhook-guardrail"]["evidence"]
    assert (evidence["source"], evidence["guardrail"], evidence["name"]) == (
        "webhook",
        "no-destructive.deny[0]",
        "keep-me",
    )
    assert raised["webhook-stray"]["evidence"][0]["namespace"] == "w-not-granted"
    assert not [e for e in trail() if str(e["kind"]).startswith("activity.")], "reviews are not recorded as activity"
