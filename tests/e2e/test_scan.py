"""`kubejit scan` against the real control plane: risky bindings seeded with real kubectl are reported with
the policy core's risk ids, and kube-apiserver's bootstrap defaults are counted apart, never as findings."""

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
    return {f["subject"]["name"]: f for f in report["findings"]}


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
