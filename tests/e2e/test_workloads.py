"""The dev cluster behaves like a cluster: workload controllers make pods, kube-scheduler places them on the kwok
node (no ``nodeName`` given by hand), kwok runs them, and kubectl's workload verbs work (rollout status, exec on
a Deployment, scale, Jobs that complete)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubejit.devcluster.binaries import kubernetes_version
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.kwok import NODE_NAME
from kubejit.devcluster.scheduler import USER as SCHEDULER_USER
from tests.conftest import Kubectl, eventually

KUBEJIT = str(Path(sys.executable).parent / "kubejit")


def pods(kubectl: Kubectl, namespace: str, selector: str) -> list[dict[str, Any]]:
    listed = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(listed)["items"]
    return items


def create_web(kubectl: Kubectl, namespace: str, replicas: int = 2) -> None:
    kubectl("create", "deployment", "web", "--image=registry.example/web:1", f"--replicas={replicas}", "-n", namespace)
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=45s")


def test_a_deployment_gets_running_pods_placed_on_the_kwok_node_by_the_scheduler(
    kubectl: Kubectl, namespace: str
) -> None:
    create_web(kubectl, namespace)
    template = kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.spec.template.spec}").stdout
    assert "nodeName" not in json.loads(template)
    placed = pods(kubectl, namespace, "app=web")
    assert len(placed) == 2
    for pod in placed:
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert pod["spec"]["schedulerName"] == "default-scheduler"
        assert pod["status"]["phase"] == "Running"
    ready = kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}").stdout
    assert ready == "2"


def test_kubectl_exec_on_a_deployment_runs_in_one_of_its_pods(kubectl: Kubectl, namespace: str) -> None:
    create_web(kubectl, namespace, replicas=1)
    assert kubectl("exec", "-n", namespace, "deploy/web", "--", "echo", "hi").stdout == "hi\n"


def test_scaling_to_zero_removes_the_pods(kubectl: Kubectl, namespace: str) -> None:
    create_web(kubectl, namespace)
    kubectl("scale", "deployment/web", "--replicas=0", "-n", namespace)
    assert eventually(lambda: pods(kubectl, namespace, "app=web") == [], timeout=30)


def test_a_job_runs_to_completion(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "job", "once", "--image=registry.example/task:1", "-n", namespace)
    kubectl("wait", "job/once", "-n", namespace, "--for=condition=Complete", "--timeout=45s")
    succeeded = kubectl("get", "job", "once", "-n", namespace, "-o", "jsonpath={.status.succeeded}").stdout
    assert succeeded == "1"


def test_a_daemonset_runs_a_pod_on_the_node_and_a_service_gets_its_endpoints(kubectl: Kubectl, namespace: str) -> None:
    manifest = f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec: {{containers: [{{name: main, image: registry.example/agent:1}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: agent, namespace: {namespace}}}
spec:
  selector: {{app: agent}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
    kubectl("apply", "-f", "-", input_text=manifest)
    kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=45s")
    (pod,) = pods(kubectl, namespace, "app=agent")
    pod_ip = pod["status"]["podIP"]

    def endpoint_addresses() -> list[str]:
        slices = kubectl(
            "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=agent", "-o", "json"
        ).stdout
        return [a for s in json.loads(slices)["items"] for e in s.get("endpoints") or [] for a in e["addresses"]]

    assert eventually(lambda: endpoint_addresses() == [pod_ip], timeout=30)


def test_pods_get_the_default_service_account_and_an_unknown_one_is_refused(kubectl: Kubectl, namespace: str) -> None:
    """The ServiceAccount admission plugin is on: it fills in ``default`` (even in a namespace made an instant
    ago, as this one is) and refuses a pod naming a ServiceAccount that does not exist."""
    create_web(kubectl, namespace, replicas=1)
    (pod,) = pods(kubectl, namespace, "app=web")
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    assert any(volume["name"].startswith("kube-api-access-") for volume in spec["volumes"])
    stranger = kubectl(
        "run", "stranger", "-n", namespace, "--image=registry.example/x:1", "--overrides",
        json.dumps({"spec": {"serviceAccountName": "nobody"}}), check=False,
    )  # fmt: skip
    assert stranger.returncode != 0
    assert 'serviceaccount "nobody" not found' in stranger.stderr


def test_the_scheduler_binds_pods_as_system_kube_scheduler_not_as_admin(
    devcluster: DevCluster, kubectl: Kubectl, namespace: str
) -> None:
    create_web(kubectl, namespace, replicas=1)
    audit_log = devcluster.state_dir / "audit.log"

    def binders() -> set[str]:
        found = set()
        for line in audit_log.read_text().splitlines():
            event = json.loads(line)
            target = event.get("objectRef", {})
            if target.get("subresource") == "binding" and target.get("namespace") == namespace:
                found.add(event["user"]["username"])
        return found

    assert eventually(lambda: bool(binders()), timeout=10)
    assert binders() == {SCHEDULER_USER}


def test_devcluster_binaries_lists_the_scheduler_it_builds() -> None:
    result = subprocess.run(
        [KUBEJIT, "devcluster", "binaries", "-o", "json", "--no-keycloak"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    scheduler = json.loads(result.stdout)["kube-scheduler"]
    assert os.access(scheduler, os.X_OK)
    version = subprocess.run([scheduler, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == f"Kubernetes {kubernetes_version()}"  # the pin kube-apiserver is built from
