"""The broker's install RBAC is derived from the policy: ``bind`` only on the policy's roles, nothing broader."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kubejit.adapters.kube.install import (
    broker_rbac,
    inline_role_name,
    render_yaml,
)
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import AccessPolicy, RoleKind, RoleSource, Scope
from kubejit.domain.rbac import PolicyRule
from tests.unit.policies import policy, profile

NODE_RULES = (PolicyRule(verbs=("get", "list"), api_groups=("",), resources=("nodes",)),)


def sample_policy() -> AccessPolicy:
    return policy(
        profile("payments-debug"),  # ClusterRole view
        profile("payments-view-again"),  # view again: named once
        profile("payments-edit", role=RoleSource(RoleKind.CLUSTER_ROLE, "kubejit-payments-editor")),
        profile("node-reader", role=RoleSource(RoleKind.INLINE, rules=NODE_RULES), scope=Scope.CLUSTER, namespaces=()),
        profile("pod-reader", role=RoleSource(RoleKind.ROLE, "pod-reader", "payments"), namespaces=("payments",)),
        profile("cm-reader", role=RoleSource(RoleKind.ROLE, "cm-reader", "payments"), namespaces=("payments",)),
        profile("ops-logs", role=RoleSource(RoleKind.ROLE, "log-reader", "ops"), namespaces=("ops",)),
    )


def find(manifests: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    matches = [
        m
        for m in manifests
        if m["kind"] == kind and m["metadata"]["name"] == name and m["metadata"].get("namespace") == namespace
    ]
    assert len(matches) == 1, f"{kind} {namespace}/{name}: {len(matches)} found"
    return matches[0]


def rules_with_verb(role: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [rule for rule in role["rules"] if verb in rule["verbs"]]


def test_bind_on_cluster_roles_is_limited_to_exactly_the_policys_cluster_roles() -> None:
    manifests = broker_rbac(sample_policy())
    broker = find(manifests, "ClusterRole", "kubejit:broker")
    binds = rules_with_verb(broker, "bind")
    assert binds == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["kubejit-payments-editor", "kubejit:profile:node-reader", "view"],
        }
    ]


def test_bind_on_roles_is_granted_per_namespace_on_exactly_the_roles_there() -> None:
    manifests = broker_rbac(sample_policy())
    payments = find(manifests, "Role", "kubejit:broker:bind", "payments")
    ops = find(manifests, "Role", "kubejit:broker:bind", "ops")
    assert payments["rules"] == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles"],
            "verbs": ["bind"],
            "resourceNames": ["cm-reader", "pod-reader"],
        }
    ]
    assert ops["rules"][0]["resourceNames"] == ["log-reader"]
    for namespace in ("payments", "ops"):
        binding = find(manifests, "RoleBinding", "kubejit:broker:bind", namespace)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "kubejit:broker:bind",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "kubejit-broker", "namespace": "kubejit-system"}
        ]
    # No namespace-wide or cluster-wide `bind` on roles.
    assert not any(
        rule["resources"] == ["roles"]
        for rule in rules_with_verb(find(manifests, "ClusterRole", "kubejit:broker"), "bind")
    )


def test_no_role_grants_escalation_verbs_wildcards_or_unnamed_bind() -> None:
    for manifest in broker_rbac(sample_policy()):
        if manifest["kind"] not in ("Role", "ClusterRole") or manifest["metadata"]["name"].startswith(
            "kubejit:profile:"
        ):
            continue
        for rule in manifest["rules"]:
            assert "*" not in rule["verbs"] + rule.get("apiGroups", []) + rule["resources"], rule
            assert not {"escalate", "impersonate"} & set(rule["verbs"]), rule
            if "bind" in rule["verbs"]:
                assert rule["resourceNames"], rule
            assert "secrets" not in rule["resources"], rule


def test_the_broker_manages_bindings_and_only_reads_roles() -> None:
    broker = find(broker_rbac(sample_policy()), "ClusterRole", "kubejit:broker")
    by_resources = {tuple(rule["resources"]): rule for rule in broker["rules"] if "bind" not in rule["verbs"]}
    assert set(by_resources) == {("rolebindings", "clusterrolebindings"), ("clusterroles", "roles")}
    assert by_resources[("rolebindings", "clusterrolebindings")]["verbs"] == [
        "get",
        "list",
        "watch",
        "create",
        "delete",
        "patch",
    ]
    assert by_resources[("clusterroles", "roles")]["verbs"] == ["get", "list"]
    binding = find(broker_rbac(sample_policy()), "ClusterRoleBinding", "kubejit:broker")
    assert binding["roleRef"]["name"] == "kubejit:broker"


def test_lease_and_checkpoint_access_is_named_except_for_create() -> None:
    manifests = broker_rbac(sample_policy(), namespace="jit", service_account="broker")
    role = find(manifests, "Role", "kubejit:broker", "jit")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "update"],
            "resourceNames": ["kubejit-broker"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "update", "patch"],
            "resourceNames": ["kubejit-audit-checkpoint"],
        },
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
    ]
    binding = find(manifests, "RoleBinding", "kubejit:broker", "jit")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "broker", "namespace": "jit"}]
    find(manifests, "Namespace", "jit")
    find(manifests, "ServiceAccount", "broker", "jit")


def test_each_inline_profile_gets_its_cluster_role_with_its_rules() -> None:
    role = find(broker_rbac(sample_policy()), "ClusterRole", inline_role_name("node-reader"))
    assert role["rules"] == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["nodes"]}]
    assert role["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubejit"
    assert not any("aggregate" in label for label in role["metadata"]["labels"])


def test_a_policy_without_cluster_roles_grants_no_bind_on_cluster_roles_at_all() -> None:
    only_roles = policy(
        profile("pod-reader", role=RoleSource(RoleKind.ROLE, "pod-reader", "payments"), namespaces=("payments",))
    )
    broker = find(broker_rbac(only_roles), "ClusterRole", "kubejit:broker")
    assert rules_with_verb(broker, "bind") == []


def test_yaml_rendering_round_trips() -> None:
    text = render_yaml(broker_rbac(sample_policy()))
    assert text.startswith("---")
    assert list(yaml.safe_load_all(text)) == broker_rbac(sample_policy())


def test_a_separate_role_name_keeps_a_second_broker_apart() -> None:
    manifests = broker_rbac(sample_policy(), namespace="jit-test", role_name="kubejit:broker:test")
    names = {
        m["metadata"]["name"]
        for m in manifests
        if m["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    }
    assert "kubejit:broker" not in names
    assert {"kubejit:broker:test", "kubejit:broker:test:bind"} <= names


@pytest.mark.parametrize(
    ("keyword", "value"), [("namespace", "Kube_System"), ("service_account", ""), ("role_name", "a/b")]
)
def test_bad_names_are_refused(keyword: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        broker_rbac(sample_policy(), **{keyword: value})


def test_without_bindings_no_clusterrole_is_made_for_an_inline_profile() -> None:
    def inline_roles(manifests: list[dict[str, Any]]) -> list[str]:
        names = [m["metadata"]["name"] for m in manifests if m["kind"] == "ClusterRole"]
        return [name for name in names if name.startswith("kubejit:profile:")]

    assert inline_roles(broker_rbac(sample_policy()))  # bound in RBAC mode
    assert inline_roles(broker_rbac(sample_policy(), bindings=False)) == []  # nothing would bind it
