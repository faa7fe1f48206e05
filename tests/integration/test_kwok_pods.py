"""Pods on the kwok node reach Running, and kubectl's streaming verbs travel the real path:
kubectl -> kube-apiserver -> kwok's kubelet API (exec over WebSocket and SPDY, logs, port-forward)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.kwok import NODE_NAME, POD_LOG_LINES
from tests.conftest import Kubectl, eventually


def pod_manifest(name: str, namespace: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  nodeName: {NODE_NAME}
  containers: [{{name: main, image: registry.example/app:1}}]
"""


@pytest.fixture
def running_pod(kubectl: Kubectl, namespace: str) -> str:
    kubectl("apply", "-f", "-", input_text=pod_manifest("app", namespace))
    kubectl("wait", "-n", namespace, "pod/app", "--for=condition=Ready", "--timeout=30s")
    return "app"


def test_the_node_is_ready_and_pods_run_on_it(kubectl: Kubectl, namespace: str, running_pod: str) -> None:
    phase = kubectl("get", "pod", running_pod, "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Running"
    ready = kubectl("get", "node", NODE_NAME, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
    assert ready.stdout == "True"


@pytest.mark.parametrize("websocket", ["true", "false"], ids=["websocket", "spdy"])
def test_kubectl_exec_runs_the_command(
    devcluster: DevCluster, namespace: str, running_pod: str, websocket: str
) -> None:
    env = {**os.environ, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websocket}
    result = subprocess.run(
        [
            str(devcluster.bins.kubectl),
            "--kubeconfig",
            str(devcluster.admin_kubeconfig),
            "exec",
            "-n",
            namespace,
            running_pod,
            "--",
            "sh",
            "-c",
            "echo out-$((6 * 7)); echo err >&2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "out-42\n"
    assert "err" in result.stderr


def test_kubectl_logs_reads_the_container_log(kubectl: Kubectl, namespace: str, running_pod: str) -> None:
    logs = kubectl("logs", "-n", namespace, running_pod).stdout
    assert logs.splitlines() == list(POD_LOG_LINES)


def test_kubectl_port_forward_reaches_the_pod(devcluster: DevCluster, namespace: str, running_pod: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    argv = [
        str(devcluster.bins.kubectl),
        "--kubeconfig",
        str(devcluster.admin_kubeconfig),
        "port-forward",
        "-n",
        namespace,
        f"pod/{running_pod}",
        f"{local_port}:8080",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as forward:
        try:
            assert forward.stdout is not None
            assert "Forwarding from" in forward.stdout.readline()
            with socket.create_connection(("127.0.0.1", local_port), timeout=10) as conn:
                conn.sendall(b"ping\n")
                received = b""
                deadline = time.monotonic() + 10
                while not received.endswith(b"ping\n") and time.monotonic() < deadline:
                    received += conn.recv(64)
            assert received == b"ping\n"  # the pod's port is an echo
        finally:
            forward.terminate()


def test_an_exec_denied_by_rbac_never_reaches_the_node(kubectl: Kubectl, namespace: str, running_pod: str) -> None:
    kubectl("create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice", "-n", namespace)
    assert eventually(lambda: kubectl("get", "pods", "-n", namespace, user="alice", check=False).returncode == 0)
    denied = kubectl("exec", "-n", namespace, running_pod, "--", "touch", "pwned", user="alice", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
