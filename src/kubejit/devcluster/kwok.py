"""kwok in the dev control plane: a fake node on which pods reach Running, and exec/logs/port-forward.

kwok runs as a plain process with the admin kubeconfig. It manages one Node (``kwok-node``) selected by
annotation, advertises itself as that node's kubelet on 127.0.0.1, and serves the kubelet's streaming API,
so that ``kubectl exec``, ``logs`` and ``port-forward`` travel the real path through kube-apiserver. Once the
node is Ready its ``not-ready`` taint is removed, so kube-scheduler places pods there (pods may also name it
in ``spec.nodeName``); the lifecycle stages then take any pod bound to it to Running (a Job's to Succeeded).

Its configuration file holds the lifecycle stages kwokctl uses (taken from kwok's own module source at
build time, see :mod:`kubejit.devcluster.binaries`) and three rules of ours:

- exec runs the command **on this machine**, in a scratch directory of the cluster's state dir. This is a
  test rig: anyone allowed ``pods/exec`` in the dev cluster runs commands as the user who started it.
- logs of every container are the lines of one file (:data:`POD_LOG_LINES`).
- port-forward to any pod port is an echo (``cat``).

Known kwok v0.8.0 limits: an exec'd command's exit code is not passed back (kubectl exits 1 with
"exit status N"), and end-of-input on stdin never reaches the command, so ``echo x | kubectl exec -i -- cat``
hangs. Commands that do not wait for end-of-input work.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import httpx
import yaml

from kubejit.devcluster.binaries import data_path
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready

NODE_NAME = "kwok-node"
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
POD_LOG_LINES = ("kubejit dev pod started", "serving on :8080")
_READY_TIMEOUT = 60.0


def _rules(exec_dir: Path, log_file: Path) -> list[dict[str, Any]]:
    api = "kwok.x-k8s.io/v1alpha1"
    return [
        {
            "apiVersion": api,
            "kind": "ClusterExec",
            "metadata": {"name": "kubejit-dev-exec"},
            "spec": {"execs": [{"local": {"workDir": str(exec_dir)}}]},
        },
        {
            "apiVersion": api,
            "kind": "ClusterLogs",
            "metadata": {"name": "kubejit-dev-logs"},
            "spec": {"logs": [{"logsFile": str(log_file), "follow": False}]},
        },
        {
            "apiVersion": api,
            "kind": "ClusterPortForward",
            "metadata": {"name": "kubejit-dev-port-forward"},
            "spec": {"forwards": [{"command": ["cat"]}]},
        },
    ]


def _cri_log(lines: tuple[str, ...]) -> str:
    """Container-runtime log format, which kwok serves as ``kubectl logs`` output."""
    return "".join(f"2026-01-01T00:00:0{i}.000000000Z stdout F {line}\n" for i, line in enumerate(lines))


class Kwok:
    """Configures, starts and waits for kwok and its node."""

    def __init__(self, binary: Path, state_dir: Path, ca: CertificateAuthority) -> None:
        self.binary = binary
        self.dir = state_dir / "kwok"
        self.dir.mkdir()
        (self.dir / "exec").mkdir()
        (self.dir / "home").mkdir()  # kwok also reads ~/.kwok/kwok.yaml: give it an empty home
        self.port = free_port()
        self.cert, self.key = ca.issue_server("kwok-kubelet").write(self.dir, "serving")

    def write_config(self) -> Path:
        log_file = self.dir / "container.log"
        log_file.write_text(_cri_log(POD_LOG_LINES))
        stages = data_path(self.binary).read_text()
        rules = yaml.safe_dump_all(_rules(self.dir / "exec", log_file), sort_keys=False)
        config = self.dir / "kwok.yaml"
        config.write_text(f"{stages}---\n{rules}")
        return config

    def argv(self, admin_kubeconfig: Path) -> list[str]:
        # Options are flags on purpose: a KwokConfiguration document in --config gets no defaults.
        return [
            str(self.binary),
            f"--kubeconfig={admin_kubeconfig}",
            f"--config={self.write_config()}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION[0]}={NODE_ANNOTATION[1]}",
            "--node-ip=127.0.0.1",
            f"--node-port={self.port}",
            f"--server-address=127.0.0.1:{self.port}",
            f"--tls-cert-file={self.cert}",
            f"--tls-private-key-file={self.key}",
            "--node-lease-duration-seconds=40",
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.dir / "home")}

    def wait_ready(self, process: ManagedProcess, server_url: str, admin_context: ssl.SSLContext) -> None:
        """Wait for kwok's health endpoint, register the node, and wait until the node is Ready."""

        def healthy() -> bool:  # kwok's serving certificate is signed by the cluster CA
            try:
                return httpx.get(f"https://127.0.0.1:{self.port}/healthz", verify=admin_context, timeout=1).is_success
            except httpx.HTTPError:
                return False

        wait_until_ready(process, healthy, what="healthy", timeout=_READY_TIMEOUT)
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "annotations": {NODE_ANNOTATION[0]: NODE_ANNOTATION[1]},
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
            },
        }
        with httpx.Client(base_url=server_url, verify=admin_context, timeout=5) as client:
            created = client.post("/api/v1/nodes", content=json.dumps(node))
            created.raise_for_status()

            def node_ready() -> bool:
                conditions = client.get(f"/api/v1/nodes/{NODE_NAME}").json().get("status", {}).get("conditions", [])
                return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

            wait_until_ready(process, node_ready, what=f"managing a Ready node {NODE_NAME}", timeout=_READY_TIMEOUT)
            _untaint_ready_node(client)


def _untaint_ready_node(client: httpx.Client) -> None:
    """Remove the ``not-ready`` taint kube-apiserver puts on every new Node (TaintNodesByCondition), as the
    node-lifecycle controller does once the node is Ready: without this kube-scheduler places no pod on it.
    That controller does not run here, so a kwok that stops heartbeating does not get its node tainted again."""
    node = client.get(f"/api/v1/nodes/{NODE_NAME}")
    node.raise_for_status()
    taints = node.json().get("spec", {}).get("taints", [])
    kept = [taint for taint in taints if taint.get("key") != NOT_READY_TAINT]
    if kept != taints:
        patch = {"metadata": {"resourceVersion": node.json()["metadata"]["resourceVersion"]}, "spec": {"taints": kept}}
        headers = {"Content-Type": "application/merge-patch+json"}
        client.patch(f"/api/v1/nodes/{NODE_NAME}", content=json.dumps(patch), headers=headers).raise_for_status()
