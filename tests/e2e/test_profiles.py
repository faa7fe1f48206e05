"""``kubejit profiles`` and ``kubejit profiles rightsize`` on the real control plane: a broker and a gateway (real
processes), the real CLI and real kubectl. A grant used through the gateway for a couple of resources gets
exactly those proposed; a direct use of its RBAC binding (kubectl with the ID token) is seen only with
kube-apiserver's audit log (the dev control plane writes one); and each person sees only the profiles they may
request."""

from __future__ import annotations

from typing import Any

import pytest

from kubejit.devcluster.cluster import DevCluster
from tests.conftest import eventually
from tests.e2e.conftest import Jit
from tests.e2e.gateway_env import GATEWAY_POLICY, GatewayEnv, module_gateway_env, namespace_with_pod

RIGHTSIZE_PROFILE = """\
    - name: rightsize-me
      description: more than anyone needs, on purpose
      rules:
        - {apiGroups: [""], resources: [pods, configmaps, services], verbs: [get, list, watch, delete]}
        - {apiGroups: [apps], resources: [deployments, replicasets], verbs: [get, list]}
      namespaces: ["g-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
"""
POLICY = GATEWAY_POLICY.replace("  guardrails:\n    - name: no-destructive", RIGHTSIZE_PROFILE + "  guardrails:\n"
                                "    - name: no-destructive", 1)  # fmt: skip

env = module_gateway_env("profiles", policy=POLICY)


@pytest.fixture
def jit(env: GatewayEnv) -> Jit:
    return Jit(env.cluster, env.broker.url)


def _activity(env: GatewayEnv, grant: str) -> list[dict[str, Any]]:
    return [e for e in env.audit(grant) if e["kind"] == "activity.request" and e["data"].get("resource")]


def test_kubejit_profiles_shows_each_person_only_what_they_may_request(jit: Jit) -> None:
    alice = [p["name"] for p in jit.json("alice", "profiles")]
    carol = [p["name"] for p in jit.json("carol", "profiles", "list")]
    assert alice == ["debug", "ops", "rightsize-me"]
    assert carol == ["debug", "ops", "secrets-read"]
    assert jit.json("dave", "profiles") == []
    text = jit("alice", "profiles").stdout
    assert "rightsize-me" in text
    assert "1 of group payments-leads" in text
    assert "secrets-read" not in text


def test_rightsize_proposes_exactly_what_the_grant_used(env: GatewayEnv, jit: Jit, devcluster: DevCluster) -> None:
    ns = namespace_with_pod(devcluster)
    devcluster.kubectl("create", "configmap", "settings", "-n", ns, check=True)
    grant = env.grant("alice", "rightsize-me", ns)
    config = env.kubeconfig(env.token("alice", grant), ns)
    for args in (["get", "pods"], ["get", "pod", "app"], ["get", "configmaps"]):
        used = env.kubectl(config, *args)
        assert used.returncode == 0, used.stderr
    assert eventually(lambda: len(_activity(env, grant)) >= 3, timeout=15)

    direct = devcluster.kubectl("get", "deployments", "-n", ns, user="alice")  # RBAC only: no gateway
    assert direct.returncode == 0, direct.stderr

    through_gateway = jit.json("dave", "profiles", "rightsize", "rightsize-me", "--since", "1h")
    assert through_gateway["proposal"]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["app"], "verbs": ["get"]},
    ]
    assert through_gateway["directUseSeen"] is False
    assert through_gateway["problems"] == []
    removed = {tuple(r["rule"]["resources"]): r for r in through_gateway["removed"]}
    assert removed[("deployments", "replicasets")]["whole"] is True  # seen nowhere without the audit log
    assert set(removed[("pods", "configmaps", "services")]["verbs"]) == {"watch", "delete"}

    audit_log = str(devcluster.state_dir / "audit.log")
    with_log = jit.json("dave", "profiles", "rightsize", "rightsize-me", "--since", "1h", "--audit-log", audit_log)
    assert with_log["proposal"]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["app"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]},
    ]
    assert with_log["uses"]["kubeApiserver"] >= 1

    text = jit("dave", "profiles", "rightsize", "rightsize-me", "--since", "1h").stdout
    assert "no --audit-log: direct use of the grants' RBAC bindings" in text
    assert "proposal (passes the policy checks)" in text
    snippet = jit("dave", "profiles", "rightsize", "rightsize-me", "--since", "1h", "-o", "yaml").stdout
    assert "- name: rightsize-me" in snippet


def test_rightsize_is_refused_to_a_requester_and_says_who_may(jit: Jit) -> None:
    refused = jit("alice", "profiles", "rightsize", "rightsize-me", check=False)
    assert refused.returncode != 0
    assert "only auditors and admins" in refused.stderr
    unknown = jit("dave", "profiles", "rightsize", "nope", check=False)
    assert "there is no access profile 'nope'" in unknown.stderr
