"""A real broker (``kubejit serve`` as a separate process, SQLite) on the session's control plane, running as a pod
would: its least-privilege ServiceAccount found in-cluster (KUBERNETES_SERVICE_HOST and a mounted-token
directory with a bound token from TokenRequest); the real ``kubejit`` CLI as any dev user, and a webhook receiver
for its notifications."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access, install_broker_identity
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.in_cluster import InClusterIdentity, in_cluster_environment, run_in_cluster

KUBEJIT = str(Path(sys.executable).parent / "kubejit")

# Profiles over the per-test namespaces (t-...), so every test works in a namespace of its own.
E2E_POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: e2e}
spec:
  admins: {groups: [platform-admins]}
  auditors: {groups: [auditors]}
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: debug
      clusterRole: view
      namespaces: ["t-*"]
      maxDuration: 1h
      maxExtendedDuration: 2h
      requesters: {groups: [payments-devs, payments-leads]}
      approval: {approvers: {groups: [payments-leads]}, required: 1}
      reason: {required: true, pattern: "^INC-[0-9]+"}
    - name: quorum
      clusterRole: view
      namespaces: ["t-*"]
      requesters: {groups: [payments-devs]}
      approval: {approvers: {groups: [payments-leads]}, required: 2}
    - name: oncall
      clusterRole: view
      namespaces: ["t-*"]
      requesters: {groups: [sre-oncall, payments-devs]}
      approval: {approvers: {groups: [payments-leads]}, autoApprove: {groups: [sre-oncall]}}
"""


@dataclass
class WebhookSink:
    """Collects the broker's notifications (generic JSON) on 127.0.0.1."""

    received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events_for(self, request_id: str) -> list[str]:
        return [n["event"] for n in list(self.received) if n["request"]["id"] == request_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class BrokerSetup:
    cluster: DevCluster
    directory: Path
    policy_file: Path
    broker_identity: InClusterIdentity  # the broker's ServiceAccount, as its pod would have it mounted
    broker: BrokerProcess
    sink: WebhookSink
    gateway_secret: str = ""  # the gateways' shared secret (the broker holds its sha256), for a gateway process


def install(cluster: DevCluster, directory: Path, *, namespace: str, role_name: str) -> tuple[Path, Path]:
    """The e2e policy file and least-privilege broker credentials for it, in their own namespace."""
    directory.mkdir(parents=True, exist_ok=True)
    policy_file = directory / "policy.yaml"
    policy_file.write_text(E2E_POLICY)
    kubeconfig = install_broker_access(
        cluster,
        load_policy_file(policy_file),
        directory / "broker.kubeconfig",
        namespace=namespace,
        role_name=role_name,
    )
    return policy_file, kubeconfig


@pytest.fixture(scope="session")
def broker_setup(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSetup]:
    directory = tmp_path_factory.mktemp("broker")
    policy_file = directory / "policy.yaml"
    policy_file.write_text(E2E_POLICY)
    identity = install_broker_identity(
        devcluster,
        load_policy_file(policy_file),
        directory / "serviceaccount",
        namespace="kubejit-e2e",
        role_name="kubejit:broker:e2e",
    )
    sink = WebhookSink()
    gateway_secret = secrets.token_urlsafe(32)
    config = broker_config(
        devcluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=directory / "unused.kubeconfig",  # replaced by run_in_cluster: no kubeconfig at all
        namespace="kubejit-e2e",
        instance="e2e",
        webhooks=[{"url": sink.url, "format": "generic"}],
        gateway={
            "url": "https://127.0.0.1:1",  # a placeholder: no gateway process runs in these tests yet
            "caFile": str(directory / "dev-ca.crt"),  # written by broker_config
            "signingKeyFile": str(directory / "gateway-signing.key"),
            "clientTokenSha256": hashlib.sha256(gateway_secret.encode()).hexdigest(),
        },
    )
    with in_cluster_environment(identity):
        broker = start_broker(run_in_cluster(config, identity))
    yield BrokerSetup(devcluster, directory, policy_file, identity, broker, sink, gateway_secret)
    broker.stop()
    sink.close()


@dataclass
class Jit:
    """The real ``kubejit`` CLI as a dev user against one broker."""

    cluster: DevCluster
    server: str

    def __call__(self, user: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBEJIT_SERVER": self.server, "KUBEJIT_TOKEN": self.cluster.mint_token(user)}
        result = subprocess.run([KUBEJIT, *args], capture_output=True, text=True, env=env, timeout=120)
        if check and result.returncode != 0:
            pytest.fail(f"kubejit {' '.join(args)} as {user} exited {result.returncode}:\n{result.stderr}")
        return result

    def json(self, user: str, *args: str) -> Any:
        return json.loads(self(user, *args, "-o", "json").stdout)

    def request(
        self, user: str, profile: str, namespace: str, duration: str = "10m", reason: str = "INC-1 e2e"
    ) -> dict[str, Any]:
        created: dict[str, Any] = self.json(
            user, "request", profile, "-n", namespace, "--for", duration, "--reason", reason
        )
        return created


@pytest.fixture
def jit(broker_setup: BrokerSetup) -> Jit:
    return Jit(broker_setup.cluster, broker_setup.broker.url)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
