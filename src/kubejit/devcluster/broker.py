"""Runs a real ``kubejit serve`` process against the dev control plane, for the demo, tests and benchmarks.

The broker gets least-privilege credentials (a ServiceAccount that may bind only the policy's roles), trusts
the dev OIDC issuer, and keeps its audit checkpoint in a ConfigMap. It is started as a separate process, as
production runs it, and is ready when its ``/readyz`` answers.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from kubejit.devcluster.cluster import DevCluster
from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready
from kubejit.transport import trust_context

_READY_TIMEOUT = 60.0


@dataclass
class BrokerProcess:
    """A running broker: where it listens, its files, and its process."""

    url: str
    config: Path
    database_url: str
    process: ManagedProcess

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no cleanup runs."""
        self.process.kill()


def broker_config(
    cluster: DevCluster,
    directory: Path,
    *,
    policy_file: Path,
    broker_kubeconfig: Path,
    database_url: str | None = None,
    port: int | None = None,
    namespace: str = "kubejit-system",
    instance: str = "default",
    lease_name: str = "kubejit-broker",
    identity: str = "broker-0",
    checkpoint_config_map: str = "kubejit-audit-checkpoint",
    sweep_interval: str = "5s",
    webhooks: list[dict[str, object]] | None = None,
    gateway: dict[str, object] | None = None,
    keys_dir: Path | None = None,
    authorization_webhook: dict[str, object] | None = None,
    serve_tls: bool = False,
) -> Path:
    """Write a BrokerConfig for the dev cluster into ``directory`` and return its path.

    ``gateway``, if given, is written as the config's ``gateway:`` section (url, caFile, signingKeyFile, tokenTtl,
    clientTokenSha256); ``authorization_webhook`` as its ``authorizationWebhook:`` section (see
    :func:`authorization_webhook_section`). ``keys_dir`` holds the audit signing key and the request seal key
    (default: ``keys/`` in ``directory``); replicas of one installation share it, as they would share a mounted Secret.
    ``serve_tls``: the broker serves HTTPS with a certificate from the cluster's CA (kube-apiserver sends its webhook
    token over HTTPS only).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "dev-ca.crt"
    ca_file.write_bytes(cluster.ca.cert_pem)
    listen: dict[str, object] = {"address": "127.0.0.1", "port": port or free_port()}
    document: dict[str, object] = {
        "apiVersion": "kubejit.io/v1alpha1",
        "kind": "BrokerConfig",
        "policyFile": str(policy_file),
        "instance": instance,
        "databaseUrl": database_url or f"sqlite:///{directory / 'kubejit.db'}",
        "listen": listen,
        "oidc": [
            {
                "name": "dev",
                "issuer": cluster.issuer.url,
                "audience": cluster.issuer.audience,
                "caFile": str(ca_file),
                # `kubejit login` signs dev users in through the dev issuer's login page (a public client)
                "login": {"clientId": cluster.issuer.audience},
            }
        ],
        "kubernetes": {"kubeconfig": str(broker_kubeconfig), "namespace": namespace},
        "leaderElection": {"leaseName": lease_name, "identity": identity, "leaseDuration": "6s", "renewInterval": "1s"},
        # The keys apart from the database, as kubejit requires (a Secret's mount in production); the request seal
        # key defaults to the signing key's directory.
        "audit": {
            "checkpointConfigMap": checkpoint_config_map,
            "signingKeyFile": str((keys_dir or directory / "keys") / "audit-signing.key"),
        },
        "notifications": {"webhooks": webhooks or []},
        "reconcile": {"pollInterval": "250ms", "sweepInterval": sweep_interval},
        "policyReloadInterval": "1s",  # tests see a changed policy file picked up without SIGHUP
    }
    if gateway is not None:
        document["gateway"] = gateway
    if authorization_webhook is not None:
        document["authorizationWebhook"] = authorization_webhook
    if serve_tls:
        cert, key = cluster.ca.issue_server("kubejit-broker").write(directory, "broker-serving")
        document["listen"] = {**listen, "tlsCertFile": str(cert), "tlsKeyFile": str(key)}
    path = directory / "kubejit.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def authorization_webhook_section(token: str, *, bindings: bool = False) -> dict[str, object]:
    """The broker config's ``authorizationWebhook`` section for kube-apiserver presenting ``token`` (the one in the
    :class:`~kubejit.devcluster.authorization.AuthorizationWebhook` the cluster was started with)."""
    return {"clientTokenSha256": hashlib.sha256(token.encode()).hexdigest(), "bindings": bindings}


def start_kubejit(command: str, config: Path, log_name: str, *, kubejit: Sequence[str] | None = None) -> ManagedProcess:
    """Start ``kubejit COMMAND --config CONFIG``, logging next to the config; the broker's and the gateway's
    processes are started this way. ``kubejit`` is the command line that runs kubejit: this environment's
    ``kubejit`` by default, another installation's (a wheel in a clean venv, maybe wrapped in a sandbox) if given."""
    program = list(kubejit) if kubejit is not None else [str(Path(sys.executable).parent / "kubejit")]
    process = ManagedProcess(
        log_name,
        [*program, command, "--config", str(config), "--log-level", "warning"],
        config.parent / f"{log_name}.log",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    process.start()
    return process


def start_broker(config: Path, *, log_name: str = "broker", kubejit: Sequence[str] | None = None) -> BrokerProcess:
    """Start ``kubejit serve --config CONFIG`` and wait until it is ready (``kubejit``: see :func:`start_kubejit`)."""
    document = yaml.safe_load(config.read_text())
    listen = document["listen"]
    tls = bool(listen.get("tlsCertFile"))
    url = f"{'https' if tls else 'http'}://127.0.0.1:{listen['port']}"
    # broker_config's certificates come from the cluster's CA, which it writes beside the config
    verify: ssl.SSLContext | bool = trust_context(cafile=config.parent / "dev-ca.crt") if tls else True
    process = start_kubejit("serve", config, log_name, kubejit=kubejit)

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1.0, verify=verify).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until_ready(process, ready, what="ready (/readyz)", timeout=_READY_TIMEOUT)
    return BrokerProcess(url, config, document["databaseUrl"], process)
