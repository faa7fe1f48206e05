"""Run a broker or a gateway on the dev control plane as it runs in a pod: as a ServiceAccount, found in-cluster.

A pod's ServiceAccount identity is a directory the kubelet mounts (a bound token from the TokenRequest API, the
cluster CA and the namespace) plus ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT``. Here
:func:`service_account_identity` asks for such a token (``kubectl create token``: TokenRequest, with an expiry),
writes the three files into a directory of the test's, and names the address: kube-apiserver listens on
127.0.0.1, and its serving certificate is valid for 127.0.0.1. :func:`run_in_cluster` makes a broker or gateway
config use it (no kubeconfig, ``serviceAccountDir``), and :func:`in_cluster_environment` gives the process the
two variables. :func:`rotate_token` replaces the token as the kubelet does.

Used by :mod:`kubejit.devcluster.broker_access`, :mod:`kubejit.devcluster.gateway` and the tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from kubejit.adapters.kube.in_cluster import HOST_VARIABLE, PORT_VARIABLE
from kubejit.devcluster.cluster import DevCluster
from kubejit.domain.errors import Unavailable

CREDENTIAL_LIFETIME = "24h"  # a bound token's expiry; the TokenRequest API refuses less than 10 minutes


@dataclass(frozen=True)
class InClusterIdentity:
    """A ServiceAccount's mounted-token directory and the in-cluster address of kube-apiserver."""

    directory: Path  # token, ca.crt, namespace
    namespace: str
    service_account: str
    host: str
    port: int

    @property
    def user(self) -> str:
        """The user name kube-apiserver gives the token."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def environ(self) -> dict[str, str]:
        return {HOST_VARIABLE: self.host, PORT_VARIABLE: str(self.port)}

    @property
    def token(self) -> str:
        return (self.directory / "token").read_text().strip()


def request_token(
    cluster: DevCluster, namespace: str, service_account: str, duration: str = CREDENTIAL_LIFETIME
) -> str:
    """A bound token for the ServiceAccount from the TokenRequest API (``kubectl create token``)."""
    issued = cluster.kubectl("create", "token", service_account, "-n", namespace, f"--duration={duration}")
    if issued.returncode != 0:
        # stderr only: stdout would be the token.
        raise Unavailable(f"requesting a token for {namespace}/{service_account} failed: {issued.stderr.strip()}")
    token = issued.stdout.strip()
    if not token:
        raise Unavailable(f"kubectl create token returned no token for {namespace}/{service_account}")
    return token


def service_account_identity(
    cluster: DevCluster, namespace: str, service_account: str, directory: Path
) -> InClusterIdentity:
    """Write ``directory`` as the kubelet would mount it for a pod of ``namespace``/``service_account``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(cluster.ca.cert_pem)
    (directory / "namespace").write_text(namespace)
    server = urlsplit(cluster.server_url)
    if server.hostname is None or server.port is None:
        raise Unavailable(f"the dev cluster's address {cluster.server_url} names no host and port")
    identity = InClusterIdentity(directory, namespace, service_account, server.hostname, server.port)
    rotate_token(identity, request_token(cluster, namespace, service_account))
    return identity


def rotate_token(identity: InClusterIdentity, token: str) -> None:
    """Swap a new token in (written beside the old one, then renamed over it, mode 0600), as the kubelet does."""
    fresh = identity.directory / ".token.new"
    fresh.unlink(missing_ok=True)
    fresh.touch(mode=0o600)
    fresh.write_text(token)
    fresh.replace(identity.directory / "token")


def run_in_cluster(config: Path, identity: InClusterIdentity) -> Path:
    """Make a broker or gateway config find kube-apiserver in-cluster: no kubeconfig, the identity's directory."""
    document = yaml.safe_load(config.read_text())
    kubernetes = {k: v for k, v in document.get("kubernetes", {}).items() if k != "kubeconfig"}
    document["kubernetes"] = {**kubernetes, "serviceAccountDir": str(identity.directory)}
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    return config


@contextmanager
def in_cluster_environment(identity: InClusterIdentity | None) -> Iterator[None]:
    """While a broker or gateway process is started (it inherits this process's environment), set the two
    variables a pod has; afterwards put the environment back. ``None``: leave it as it is."""
    if identity is None:
        yield
        return
    saved = {name: os.environ.get(name) for name in identity.environ}
    os.environ.update(identity.environ)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
