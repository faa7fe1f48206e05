"""kube-scheduler in the dev control plane: pods without a ``nodeName`` get one (the kwok node).

It runs as its own identity, ``system:kube-scheduler`` (a client certificate from the cluster CA, which the
bootstrap ClusterRoles ``system:kube-scheduler`` and ``system:volume-scheduler`` are bound to), not as the
admin, so the rights it uses are the ones a real cluster gives it. One instance, so no leader election. It
serves HTTPS on a free 127.0.0.1 port with a serving certificate from the same CA; ready means its
``/readyz`` answers ok (its informers and event handlers have synced), which its default authorization lets
anonymous callers read.

Started and waited for by :class:`kubejit.devcluster.cluster.DevCluster`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from kubejit.devcluster import configfiles
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready

USER = "system:kube-scheduler"
_READY_TIMEOUT = 60.0


class KubeScheduler:
    """Writes kube-scheduler's credentials and configuration, gives its command line, waits for it."""

    def __init__(self, binary: Path, state_dir: Path, ca: CertificateAuthority, server_url: str) -> None:
        self.binary = binary
        self.dir = state_dir / "kube-scheduler"
        self.dir.mkdir()
        self.port = free_port()
        self._ca = ca
        self._server_url = server_url

    def argv(self) -> list[str]:
        cert, key = self._ca.issue_client(USER).write(self.dir, "client")
        kubeconfig = configfiles.write_yaml(
            self.dir / "kubeconfig",
            configfiles.kubeconfig(
                self._server_url,
                self._ca.cert_pem,
                USER,
                configfiles.client_cert_credentials(cert.read_bytes(), key.read_bytes()),
            ),
            private=True,
        )
        config = configfiles.write_yaml(self.dir / "config.yaml", configfiles.scheduler_configuration(kubeconfig))
        serving_cert, serving_key = self._ca.issue_server("kube-scheduler").write(self.dir, "serving")
        return [
            str(self.binary),
            f"--config={config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--tls-cert-file={serving_cert}",
            f"--tls-private-key-file={serving_key}",
            "--profiling=false",
        ]

    def wait_ready(self, process: ManagedProcess, trust: ssl.SSLContext) -> None:
        """Wait until ``/readyz`` answers 200 over HTTPS (``trust`` holds the cluster CA)."""
        url = f"https://127.0.0.1:{self.port}/readyz"

        def ready() -> bool:
            try:
                return httpx.get(url, verify=trust, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until_ready(process, ready, what="ready (/readyz)", timeout=_READY_TIMEOUT)
