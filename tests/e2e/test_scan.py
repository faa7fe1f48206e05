"""`kubejit scan` against the real control plane: risky bindings seeded with real kubectl are reported with
the policy core's risk ids, and kube-apiserver's bootstrap defaults are counted apart, never as findings; who
can act as a risky ServiceAccount through pods gets a derived finding; `--suggest` writes a policy that the
real `kubejit policy check` passes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubejit.devcluster.cluster import DevCluster
from tests.conftest import Kubectl

KUBEJIT = str(Path(sys.executable).parent / "kubejit")


def kubejit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBEJIT, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def admin_user(kubectl: Kubectl) -> Iterator[str]:
    """A user bound to cluster-admin by a ClusterRoleBinding of its own (removed afterwards)."""
    user = f"root-{uuid.uuid4().hex[:8]}"
    kubectl("create", "clusterrolebinding", user, "--clusterrole=cluster-admin", f"--user={user}")
    yield user
    kubectl("delete", "clusterrolebinding", user)


def seed(kubectl: Kubectl, namespace: str) -> None:
    ns = f"--namespace={namespace}"
    kubectl("create", "role", "secret-getter", "--verb=get", "--resource=secrets", ns)
    kubectl("create", "rolebinding", "readers-secrets", "--role=secret-getter", "--group=secret-readers", ns)
    kubectl("create", "serviceaccount", "deployer", ns)
    kubectl("create", "role", "exec-and-run", "--verb=create", "--resource=pods,pods/exec", ns)
    kubectl(
        "create", "rolebinding", "deployer-exec", "--role=exec-and-run", f"--serviceaccount={namespace}:deployer", ns
    )


def by_subject(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each subject's own (not derived) finding by the subject's name."""
    return {f["subject"]["name"]: f for f in report["findings"] if not f["actsAs"]}


def test_scan_reports_seeded_risky_bindings_and_not_the_defaults(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, admin_user: str
) -> None:
    seed(kubectl, namespace)
    result = kubejit("scan", "--kubeconfig", str(devcluster.admin_kubeconfig), "-o", "json", "--fail-on", "critical")
    assert result.returncode == 1, result.stdout + result.stderr  # cluster-admin is critical
    report = json.loads(result.stdout)
    found = by_subject(report)

    root = found[admin_user]
    assert root["risks"][0] == "cluster-admin"
    assert root["severity"] == "critical"
    assert root["binding"] == {
        "kind": "ClusterRoleBinding",
        "name": admin_user,
        "namespace": None,
        "role": {"kind": "ClusterRole", "name": "cluster-admin"},
        "scope": "cluster",
    }

    readers = found["secret-readers"]
    assert readers["risks"] == ["secrets-read"]
    assert readers["binding"]["scope"] == namespace
    assert readers["subject"]["kind"] == "Group"

    deployer = found["deployer"]
    assert deployer["subject"] == {"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}
    assert {"pods-exec", "pods-create"} <= set(deployer["risks"])
    assert f"in namespace {namespace}" in deployer["path"]

    # kube-apiserver's own bindings (system:masters on cluster-admin, the controllers, ...) are apart
    assert report["systemDefaults"]["count"] > 20
    assert not [f for f in report["findings"] if f["subject"]["name"].startswith("system:")]
    assert not [f for f in report["findings"] if f["binding"]["name"].startswith("system:")]
    assert "system:masters" in {item["subject"]["name"] for item in report["systemDefaults"]["items"]}


def test_a_dump_written_by_kubectl_scans_like_the_cluster(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    seed(kubectl, namespace)
    dump = tmp_path / "rbac.yaml"
    dump.write_text(kubectl("get", "clusterroles,roles,clusterrolebindings,rolebindings", "-A", "-o", "yaml").stdout)
    from_file = kubejit("scan", "--from-file", str(dump), "-o", "json")
    live = kubejit("scan", "--kubeconfig", str(devcluster.admin_kubeconfig), "-o", "json")
    assert from_file.returncode == 0, from_file.stderr
    assert live.returncode == 0, live.stderr
    mine = [f for f in json.loads(from_file.stdout)["findings"] if f["binding"]["namespace"] == namespace]
    assert {f["subject"]["name"] for f in mine} == {"secret-readers", "deployer"}
    live_mine = [f for f in json.loads(live.stdout)["findings"] if f["binding"]["namespace"] == namespace]
    assert mine == live_mine


@pytest.fixture
def releaser(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """ServiceAccount ``releaser`` in ``namespace``, bound cluster-wide to a role that creates
    ClusterRoleBindings (removed afterwards), and a pod that runs as it (kwok keeps it running)."""
    name = f"releaser-binds-{namespace}"
    kubectl("create", "serviceaccount", "releaser", f"--namespace={namespace}")
    kubectl("create", "clusterrole", name, "--verb=create", "--resource=clusterrolebindings.rbac.authorization.k8s.io")
    kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", f"--serviceaccount={namespace}:releaser")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "build", "namespace": namespace},
        "spec": {"serviceAccountName": "releaser", "containers": [{"name": "main", "image": "busybox"}]},
    }
    kubectl("apply", "-f", "-", input_text=json.dumps(pod))
    yield name
    kubectl("delete", "clusterrolebinding", name)
    kubectl("delete", "clusterrole", name)


def test_who_can_act_as_a_risky_service_account_through_pods(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, releaser: str
) -> None:
    ns = f"--namespace={namespace}"
    kubectl("create", "role", "pod-starter", "--verb=create", "--resource=pods", ns)
    kubectl("create", "rolebinding", "starters", "--role=pod-starter", "--group=pod-starters", ns)
    kubectl("create", "role", "shell", "--verb=create,get", "--resource=pods/exec", ns)
    kubectl("create", "rolebinding", "shells", "--role=shell", "--group=shell-users", ns)
    result = kubejit("scan", "--kubeconfig", str(devcluster.admin_kubeconfig), "-o", "json")
    assert result.returncode == 0, result.stderr
    derived = {f["subject"]["name"]: f for f in json.loads(result.stdout)["findings"] if f["actsAs"]}

    starters = derived["pod-starters"]
    assert starters["severity"] == "critical"
    assert starters["risks"] == ["rbac-write"]
    [reached] = starters["actsAs"]
    assert reached["serviceAccount"] == {"kind": "ServiceAccount", "name": "releaser", "namespace": namespace}
    assert (reached["through"], reached["accountBinding"]["name"]) == ("pods-create", releaser)
    assert (
        f"Group pod-starters (through RoleBinding {namespace}/starters) can create pods in namespace {namespace}, "
        f"and a pod there can run as ServiceAccount {namespace}/releaser, whose ClusterRole {releaser}"
    ) in starters["path"]

    shells = derived["shell-users"]  # exec: the pods read from the cluster say which account it reaches
    [reached] = shells["actsAs"]
    assert (reached["through"], reached["pods"]) == ("pods-exec", [f"{namespace}/build"])
    assert f"and pod {namespace}/build runs as ServiceAccount {namespace}/releaser" in shells["path"]


def test_suggest_writes_a_policy_that_policy_check_passes(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str, admin_user: str, tmp_path: Path
) -> None:
    seed(kubectl, namespace)
    kubeconfig = str(devcluster.admin_kubeconfig)
    # This test's namespace and the cluster-scoped objects: the namespaces earlier tests left are being torn
    # down meanwhile, and a Role that goes between the scan and the check would fail the check for it.
    dump = tmp_path / "rbac.yaml"
    cluster_scoped = kubectl("get", "clusterroles,clusterrolebindings", "-o", "yaml").stdout
    dump.write_text(
        cluster_scoped + "---\n" + kubectl("get", "roles,rolebindings", "-n", namespace, "-o", "yaml").stdout
    )
    target = tmp_path / "suggested.yaml"
    result = kubejit("scan", "--from-file", str(dump), "--suggest", str(target))
    assert result.returncode == 0, result.stderr
    assert "placeholder group REPLACE-ME-approvers" in result.stderr
    text = target.read_text()
    # the Role bound by a RoleBinding: a namespaced profile in that namespace, the group as requester
    assert f"  - name: {namespace}-secret-getter\n" in text
    assert f"    role:\n        name: secret-getter\n        namespace: {namespace}\n" in text
    assert "groups:\n        - secret-readers" in text
    # cluster-admin is refused, commented out under the reason
    profile = text[text.index("    # - name: cluster-admin") :]
    assert f"    #     - {admin_user}" in profile.split("# - name:")[1]
    reason = text[: text.index("    # - name: cluster-admin")].rsplit("# cluster-admin: critical", 1)[1]
    assert "NOT USABLE AS WRITTEN, so commented out: kubejit refuses a profile with critical risks" in reason

    check = kubejit("policy", "check", str(target), "--kubeconfig", kubeconfig, "-o", "json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["usable"] is True
    analyzed = {p["name"] for p in report["profiles"]}
    assert f"{namespace}-secret-getter" in analyzed
