"""A broker and a gateway (both real processes) on the session's control plane, and kubeconfigs that reach the
cluster only through the gateway with a grant token: what the gateway tests and the benchmark build on."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kubejit.adapters.policy_file import load_policy_file
from kubejit.devcluster.broker import BrokerProcess, broker_config, start_broker
from kubejit.devcluster.broker_access import install_broker_access
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.gateway import GatewayProcess, broker_link, gateway_config, prepare_gateway, start_gateway
from kubejit.devcluster.kwok import NODE_NAME

GATEWAY_POLICY = """\
apiVersion: kubejit.io/v1alpha1
kind: AccessPolicy
metadata: {name: gateway-e2e}
spec:
  admins: {groups: [platform-admins]}
  auditors: {groups: [auditors]}
  defaults: {defaultDuration: 10m, maxDuration: 4h, pendingTimeout: 1h}
  profiles:
    - name: debug
      clusterRole: view
      namespaces: ["t-*", "g-*"]
      requesters: {groups: [payments-devs, sre-oncall]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      guardrails: [no-destructive]
    - name: ops
      rules:
        - {apiGroups: [""], resources: [pods, pods/log, configmaps], verbs: [get, list, watch, create, delete, patch]}
        - {apiGroups: [""], resources: [pods/exec, pods/portforward], verbs: [create, get]}
      namespaces: ["t-*", "g-*"]
      requesters: {groups: [payments-devs, sre-oncall]}
      approval: {approvers: {groups: [payments-leads]}}
      reason: {required: false}
      allowRisks:
        - {id: pods-exec, justification: "debugging through the gateway, which guards exec"}
        - {id: pods-create, justification: test workloads}
        - {id: pods-portforward, justification: port-forward through the gateway (cut at revoke)}
      guardrails: [no-destructive, safe-exec]
    - name: secrets-read
      rules:
        - {apiGroups: [""], resources: [secrets], verbs: [get, list]}
      namespaces: ["t-*", "g-*"]
      requesters: {groups: [sre-oncall]}
      approval: {approvers: {groups: [payments-leads]}}
      allowRisks:
        - {id: secrets-read, justification: "reading a service's credentials during an incident"}
  guardrails:
    - name: no-destructive
      deny:
        - {verbs: [delete], resources: [namespaces], message: deleting namespaces is not allowed in a JIT session}
        - {verbs: [delete], resources: [configmaps], names: ["keep-*"], message: keep-* configmaps stay}
      warn:
        - {verbs: [delete], resources: [pods], message: deleting a pod restarts it}
    - name: safe-exec
      exec:
        denyCommands: ["rm -rf", "mkfs", "dd", "shutdown", "reboot"]
        message: this command is refused in a JIT session
"""


@dataclass
class GatewayEnv:
    cluster: DevCluster
    directory: Path
    broker: BrokerProcess
    gateway: GatewayProcess
    gateway_ca: Path

    def api(self, user: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.broker.url, headers={"Authorization": f"Bearer {self.cluster.mint_token(user)}"}, timeout=30
        )

    def grant(self, user: str, profile: str, namespace: str, duration: str = "10m") -> str:
        """Request, approve (bob) and wait until active; returns the grant id."""
        with self.api(user) as me, self.api("bob") as lead:
            body = {"profile": profile, "namespaces": [namespace], "duration": duration, "reason": "gateway e2e"}
            created = me.post("/api/v1/requests", json=body)
            created.raise_for_status()
            grant_id = str(created.json()["id"])
            lead.post(f"/api/v1/requests/{grant_id}/approve", json={}).raise_for_status()
            for _ in range(200):
                if me.get(f"/api/v1/requests/{grant_id}").json()["state"] == "active":
                    return grant_id
                import time

                time.sleep(0.05)
        raise AssertionError(f"{grant_id} did not become active")

    def token(self, user: str, grant_id: str) -> str:
        with self.api(user) as me:
            response = me.post(f"/api/v1/requests/{grant_id}/token")
            response.raise_for_status()
            return str(response.json()["token"])

    def kubeconfig(self, token: str, namespace: str) -> Path:
        path = self.directory / f"gw-{uuid.uuid4().hex[:8]}.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "gw",
                            "cluster": {
                                "server": self.gateway.url,
                                "certificate-authority-data": base64.b64encode(self.gateway_ca.read_bytes()).decode(),
                            },
                        }
                    ],
                    "users": [{"name": "me", "user": {"token": token}}],
                    "contexts": [{"name": "jit", "context": {"cluster": "gw", "user": "me", "namespace": namespace}}],
                    "current-context": "jit",
                }
            )
        )
        path.chmod(0o600)
        return path

    def kubectl(
        self,
        kubeconfig: Path,
        *args: str,
        env: dict[str, str] | None = None,
        input_text: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        import os

        return subprocess.run(
            [str(self.cluster.bins.kubectl), "--kubeconfig", str(kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            env={**os.environ, **(env or {})},
        )

    def audit(self, grant_id: str) -> list[dict[str, Any]]:
        with self.api("dave") as auditor:
            events: list[dict[str, Any]] = auditor.get("/api/v1/audit", params={"requestId": grant_id}).json()
            return events


@contextmanager
def gateway_env(
    cluster: DevCluster,
    directory: Path,
    *,
    name: str,
    max_staleness: str = "5s",
    fail_mode: str = "closed",
    audit_max_delay: str | None = None,
    policy: str = GATEWAY_POLICY,
    broker_oidc: list[dict[str, Any]] | None = None,
    webhooks: list[dict[str, object]] | None = None,
    gateway_settings: dict[str, Any] | None = None,
) -> Iterator[GatewayEnv]:
    """``broker_oidc``, if given, replaces the broker config's ``oidc`` list (the dev issuer alone otherwise);
    ``webhooks`` are the broker's notification webhooks (none otherwise); ``gateway_settings`` are added to the
    gateway's config (e.g. its ``metrics`` section)."""
    directory.mkdir(parents=True, exist_ok=True)
    policy_file = directory / "policy.yaml"
    policy_file.write_text(policy)
    namespace = f"kubejit-{name}-{uuid.uuid4().hex[:6]}"
    kubeconfig = install_broker_access(
        cluster,
        load_policy_file(policy_file),
        directory / "broker.kubeconfig",
        namespace=namespace,
        role_name=f"kubejit:broker:{name}",
    )
    shared = prepare_gateway(cluster, directory / "gateway")
    config = broker_config(
        cluster,
        directory,
        policy_file=policy_file,
        broker_kubeconfig=kubeconfig,
        namespace=namespace,
        instance=name,
        identity=f"{name}-0",
        webhooks=webhooks,
    )
    document = yaml.safe_load(config.read_text())
    document["gateway"] = broker_link(shared)
    if broker_oidc is not None:
        document["oidc"] = broker_oidc
    config.write_text(yaml.safe_dump(document))
    broker = start_broker(config, log_name=f"{name}-broker")
    gateway = None
    try:
        gateway_file = gateway_config(
            directory / "gateway",
            shared,
            broker_url=broker.url,
            policy_file=policy_file,
            fail_mode=fail_mode,
            max_staleness=max_staleness,
            audit_max_delay=audit_max_delay,
        )
        if gateway_settings:
            gateway_file.write_text(yaml.safe_dump({**yaml.safe_load(gateway_file.read_text()), **gateway_settings}))
        gateway = start_gateway(gateway_file, shared, log_name=f"{name}-gateway")
        yield GatewayEnv(cluster, directory, broker, gateway, shared.ca_file)
    finally:
        if gateway is not None:
            gateway.stop()
        broker.stop()


def parse_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def namespace_with_pod(cluster: DevCluster, prefix: str = "g", *, pod: bool = True, stdin: bool = False) -> str:
    """A fresh namespace, with a running pod ``app`` (container ``main``, on the kwok node) unless ``pod`` is off."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name, check=True)
    if pod:
        container = "{name: main, image: registry.example/app:1" + (", stdin: true}" if stdin else "}")
        manifest = (
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: app, namespace: {name}}}\nspec:\n"
            f"  nodeName: {NODE_NAME}\n  containers: [{container}]\n"
        )
        cluster.kubectl("apply", "-f", "-", input_text=manifest, check=True)
        cluster.kubectl("wait", "-n", name, "pod/app", "--for=condition=Ready", "--timeout=30s", check=True)
    return name


def module_gateway_env(name: str, *, policy: str = GATEWAY_POLICY) -> Any:
    """A module-scoped ``env`` fixture: one broker and gateway for the test module that assigns it."""

    @pytest.fixture(scope="module")
    def env(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayEnv]:
        with gateway_env(devcluster, tmp_path_factory.mktemp(name), name=name, policy=policy) as environment:
            yield environment

    return env
