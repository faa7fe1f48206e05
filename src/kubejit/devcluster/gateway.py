"""Runs a real ``kubejit gateway`` process in front of the dev control plane, for the demo, tests and benchmarks.

The gateway gets a client certificate of its own (``kubejit-gateway``) whose RBAC allows impersonating users and
groups and reading roles, or (``in_cluster_namespace``) that RBAC for a ServiceAccount whose token it finds as a
pod does (:mod:`kubejit.devcluster.in_cluster`); a serving certificate for 127.0.0.1 from the dev CA, and the
shared secret it presents to the broker (the broker keeps only its hash).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from kubejit.adapters.kube.install import DEFAULT_GATEWAY_SERVICE_ACCOUNT, gateway_rbac, render_yaml
from kubejit.devcluster import configfiles
from kubejit.devcluster.broker import start_kubejit
from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.in_cluster import (
    InClusterIdentity,
    in_cluster_environment,
    run_in_cluster,
    service_account_identity,
)
from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready
from kubejit.transport import trust_context

_READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class GatewaySecrets:
    """What broker and gateway share: the client token (the gateway's copy) and its hash (the broker's)."""

    token_file: Path
    token_sha256: str
    url: str
    ca_file: Path
    port: int
    identity: InClusterIdentity | None = None  # in-cluster: the gateway's ServiceAccount; else its kubeconfig


def prepare_gateway(
    cluster: DevCluster,
    directory: Path,
    *,
    port: int | None = None,
    in_cluster_namespace: str | None = None,
    role_name: str | None = None,
) -> GatewaySecrets:
    """The gateway's RBAC and credentials, serving certificate and shared secret; decides its URL.

    With ``in_cluster_namespace`` the gateway is the ServiceAccount ``kubejit-gateway`` there, found in-cluster;
    ``role_name`` (default ``kubejit:gateway``) lets such a test leave the default gateway's binding alone."""
    directory.mkdir(parents=True, exist_ok=True)
    identity = _gateway_identity(cluster, directory, in_cluster_namespace, role_name)
    cluster.ca.issue_server("kubejit-gateway").write(directory, "gateway-serving")
    (directory / "gateway-ca.crt").write_bytes(cluster.ca.cert_pem)
    token = secrets.token_urlsafe(32)
    token_file = directory / "gateway-client.token"
    token_file.touch(mode=0o600)
    token_file.write_text(token)
    chosen = port or free_port()
    return GatewaySecrets(
        token_file,
        hashlib.sha256(token.encode()).hexdigest(),
        f"https://127.0.0.1:{chosen}",
        directory / "gateway-ca.crt",
        chosen,
        identity,
    )


def _gateway_identity(
    cluster: DevCluster, directory: Path, namespace: str | None, role_name: str | None
) -> InClusterIdentity | None:
    """Apply the gateway's RBAC; write its kubeconfig (a client certificate), or with ``namespace`` its
    ServiceAccount's mounted-token directory."""
    names = {"role_name": role_name} if role_name else {}
    rbac = gateway_rbac(service_account_namespace=namespace, **names)
    cluster.kubectl("apply", "-f", "-", input_text=render_yaml(rbac), check=True)
    if namespace is not None:
        return service_account_identity(
            cluster, namespace, DEFAULT_GATEWAY_SERVICE_ACCOUNT, directory / "serviceaccount"
        )
    pair = cluster.ca.issue_client("kubejit-gateway")
    configfiles.write_yaml(
        directory / "gateway.kubeconfig",
        configfiles.kubeconfig(
            cluster.server_url,
            cluster.ca.cert_pem,
            "kubejit-gateway",
            configfiles.client_cert_credentials(pair.cert_pem, pair.key_pem),
        ),
        private=True,
    )
    return None


def broker_link(shared: GatewaySecrets) -> dict[str, object]:
    """The ``gateway:`` section of the broker's config for this gateway."""
    return {
        "url": shared.url,
        "caFile": str(shared.ca_file),
        "clientTokenSha256": shared.token_sha256,
        "tokenTtl": "5m",
    }


def gateway_config(
    directory: Path,
    shared: GatewaySecrets,
    *,
    broker_url: str,
    policy_file: Path,
    fail_mode: str = "closed",
    max_staleness: str = "5s",
    audit_max_delay: str | None = None,
) -> Path:
    """Write the gateway's config into ``directory``; ``audit_max_delay`` (e.g. ``"1s"``) overrides how long
    recorded activity may stay undelivered before a fail-closed gateway refuses requests (default: 10s)."""
    audit: dict[str, str] = {"failMode": fail_mode}
    if audit_max_delay is not None:
        audit["maxDelay"] = audit_max_delay
    document = {
        "apiVersion": "kubejit.io/v1alpha1",
        "kind": "GatewayConfig",
        "policyFile": str(policy_file),
        "listen": {
            "address": "127.0.0.1",
            "port": shared.port,
            "tlsCertFile": str(directory / "gateway-serving.crt"),
            "tlsKeyFile": str(directory / "gateway-serving.key"),
        },
        "kubernetes": {"kubeconfig": str(directory / "gateway.kubeconfig")},
        "broker": {"url": broker_url, "clientTokenFile": str(shared.token_file), "maxStaleness": max_staleness},
        "audit": audit,
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return run_in_cluster(path, shared.identity) if shared.identity else path


@dataclass
class GatewayProcess:
    url: str
    config: Path
    process: ManagedProcess

    def stop(self) -> None:
        self.process.stop()


def start_gateway(
    config: Path, shared: GatewaySecrets, *, log_name: str = "gateway", kubejit: Sequence[str] | None = None
) -> GatewayProcess:
    """Start ``kubejit gateway --config CONFIG``; ready when it answers (401 to a request without a token).
    ``kubejit`` is the command line that runs kubejit (see :func:`kubejit.devcluster.broker.start_kubejit`)."""
    with in_cluster_environment(shared.identity):
        process = start_kubejit("gateway", config, log_name, kubejit=kubejit)
    trust = trust_context(cafile=shared.ca_file)

    def ready() -> bool:
        try:
            return httpx.get(f"{shared.url}/version", verify=trust, timeout=1.0).status_code == 401
        except httpx.HTTPError:
            return False

    wait_until_ready(process, ready, what="serving", timeout=_READY_TIMEOUT)
    return GatewayProcess(shared.url, config, process)
