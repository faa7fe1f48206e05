"""`kubejit policy check|explain` as a platform engineer runs them, offline and against the real cluster
(whose aggregated ClusterRoles `edit` and `admin` are read and resolved)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from kubejit.devcluster.cluster import DevCluster

KUBEJIT = str(Path(sys.executable).parent / "kubejit")
DEMO = resources.files("kubejit.examples").joinpath("demo-policy.yaml")

SINGLE = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {{name: single}}
spec:
  profiles:
    - name: team-access
      clusterRole: {role}
      namespaces: [payments]
      requesters: {{groups: [payments-devs]}}
      approval: {{approvers: {{groups: [payments-leads]}}}}
"""


def kubejit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBEJIT, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def policy_with(tmp_path: Path) -> Callable[[str], str]:
    def write(role: str) -> str:
        path = tmp_path / f"{role}.yaml"
        path.write_text(SINGLE.format(role=role))
        return str(path)

    return write


def test_demo_policy_is_valid_offline_with_cluster_roles_not_analyzed() -> None:
    with resources.as_file(DEMO) as path:
        result = kubejit("policy", "check", str(path), "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_name = {p["name"]: p for p in report["profiles"]}
    assert by_name["payments-debug"]["analyzed"] is False
    exec_findings = {f["id"]: f for f in by_name["payments-exec"]["findings"]}
    assert exec_findings["pods-exec"]["accepted"] is True


def test_demo_policy_against_the_cluster_is_usable(devcluster: DevCluster) -> None:
    with resources.as_file(DEMO) as path:
        result = kubejit("policy", "check", str(path), "--kubeconfig", str(devcluster.admin_kubeconfig))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "payments-debug (ClusterRole view): usable" in result.stdout


def test_aggregated_edit_role_is_read_from_the_cluster_and_refused(
    devcluster: DevCluster, policy_with: Callable[[str], str]
) -> None:
    result = kubejit(
        "policy", "check", policy_with("edit"), "--kubeconfig", str(devcluster.admin_kubeconfig), "-o", "json"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (profile,) = json.loads(result.stdout)["profiles"]
    ids = {f["id"] for f in profile["findings"]}
    assert {"secrets-read", "pods-exec", "workloads-create", "pods-create", "impersonate"} <= ids
    assert profile["refused"] is True
    assert any("allowRisks" in refusal for refusal in profile["refusals"])


def test_admin_role_includes_rbac_write(devcluster: DevCluster, policy_with: Callable[[str], str]) -> None:
    result = kubejit(
        "policy", "check", policy_with("admin"), "--kubeconfig", str(devcluster.admin_kubeconfig), "-o", "json"
    )
    assert result.returncode == 1
    ids = {f["id"] for f in json.loads(result.stdout)["profiles"][0]["findings"]}
    assert "rbac-write" in ids


def test_unknown_cluster_role_is_named(devcluster: DevCluster, policy_with: Callable[[str], str]) -> None:
    result = kubejit("policy", "check", policy_with("no-such-role"), "--kubeconfig", str(devcluster.admin_kubeconfig))
    assert result.returncode == 1
    assert "ClusterRole no-such-role does not exist in the cluster" in result.stderr


def test_explain_shows_effective_rules_of_an_aggregated_role(
    devcluster: DevCluster, policy_with: Callable[[str], str]
) -> None:
    result = kubejit(
        "policy", "explain", policy_with("edit"), "team-access", "--kubeconfig", str(devcluster.admin_kubeconfig)
    )
    assert result.returncode == 0, result.stderr
    assert "effective rules:" in result.stdout
    assert "resources=[pods/exec" in result.stdout or "pods/exec" in result.stdout
    assert "approved by   1 of group payments-leads (never the requester)" in result.stdout
    assert "status: refused" in result.stdout


def test_invalid_file_exits_2_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SINGLE.format(role="view").replace("namespaces:", "namespace:"))
    result = kubejit("policy", "check", str(path))
    assert result.returncode == 2
    assert f"{path}:8:7: spec.profiles[0].namespace: unknown field 'namespace': did you mean 'namespaces'?" in (
        result.stderr
    )
    as_json = kubejit("policy", "check", str(path), "-o", "json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["issues"][0]["line"] == 8


def test_unreachable_cluster_exits_3(tmp_path: Path, policy_with: Callable[[str], str]) -> None:
    kubeconfig = tmp_path / "gone.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    result = kubejit("policy", "check", policy_with("view"), "--kubeconfig", str(kubeconfig))
    assert result.returncode == 3, result.stderr
    assert "cannot reach the cluster" in result.stderr


def test_rbac_prints_least_privilege_manifests_for_the_policy() -> None:
    import yaml

    with resources.as_file(DEMO) as path:
        result = kubejit("policy", "rbac", str(path), "--namespace", "jit")
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    broker_role = next(d for d in documents if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "kubejit:broker")
    bind_rules = [r for r in broker_role["rules"] if "bind" in r["verbs"]]
    assert bind_rules
    assert all(r.get("resourceNames") for r in bind_rules)
    named = {n for r in bind_rules for n in r["resourceNames"]}
    assert named == {"view", "kubejit:profile:payments-exec", "kubejit:profile:payments-emergency"}
    assert any(d["kind"] == "ServiceAccount" and d["metadata"]["namespace"] == "jit" for d in documents)
