"""One way to build the Kubernetes client kubejit's own components use (lightkube, synchronous).

With a kubeconfig, lightkube reads it. Without one (``kubernetes.kubeconfig`` unset: the broker or the gateway
runs in a pod) the client is built from :func:`~kubejit.adapters.kube.in_cluster.load_in_cluster`, and every
request carries the ServiceAccount token as the kubelet last wrote it: :class:`_ServiceAccountBearer` asks
:class:`~kubejit.adapters.kube.in_cluster.ServiceAccountToken` for it per request (a ``stat``, a read only when
the file changed) and, on a 401, re-reads the file and retries once if the token changed. lightkube's own
in-cluster mode re-reads the token only after a 401, so a rotated token would be used only once the old one is
refused; this one follows the file as client-go does.

Called by :mod:`kubejit.bootstrap` (broker and gateway), ``kubejit audit checkpoint --init`` and
:meth:`kubejit.adapters.kube.bindings.RbacBindings.from_kubeconfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx2
import yaml
from lightkube import Client, ConfigError
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from kubejit.adapters.kube.in_cluster import DEFAULT_SERVICE_ACCOUNT_DIR, ServiceAccountToken, load_in_cluster
from kubejit.domain.errors import InvalidInput


def make_client(
    kubeconfig: Path | None,
    *,
    service_account_dir: Path = DEFAULT_SERVICE_ACCOUNT_DIR,
    environ: Mapping[str, str] | None = None,
    timeout_seconds: float = 10.0,
    field_manager: str = "kubejit",
) -> Client:
    """A client from a kubeconfig file, or from the in-cluster ServiceAccount (in ``service_account_dir``, with
    kube-apiserver's address from ``environ``, default the process's) when ``kubeconfig`` is None."""
    timeout = httpx2.Timeout(timeout_seconds)
    if kubeconfig is None:
        return _in_cluster_client(service_account_dir, environ, timeout, field_manager)
    try:
        config = KubeConfig.from_file(str(kubeconfig))
    except (OSError, ConfigError, yaml.YAMLError) as error:
        raise InvalidInput(f"cannot use kubeconfig {kubeconfig}: {error}") from error
    return Client(config=config, timeout=timeout, field_manager=field_manager)


def _in_cluster_client(
    directory: Path, environ: Mapping[str, str] | None, timeout: httpx2.Timeout, field_manager: str
) -> Client:
    found = load_in_cluster(directory, environ)
    # No credentials in the config (an empty User): the transport adds the token to every request.
    cluster = Cluster(server=found.server_url, certificate_auth=str(found.ca_file))
    config = KubeConfig.from_one(cluster=cluster, user=User(), namespace=found.namespace)
    transport = _ServiceAccountBearer(httpx2.HTTPTransport(verify=found.trust()), found.token)
    # trust_env off: a proxy taken from the environment would get a transport of its own, without the token.
    return Client(config=config, timeout=timeout, field_manager=field_manager, transport=transport, trust_env=False)


class _ServiceAccountBearer(httpx2.BaseTransport):
    """Sends each request with the current ServiceAccount token; after a 401, once more with a re-read one."""

    def __init__(self, inner: httpx2.BaseTransport, token: ServiceAccountToken) -> None:
        self._inner = inner
        self._token = token

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        sent = self._token.current()
        request.headers["Authorization"] = f"Bearer {sent}"
        response = self._inner.handle_request(request)
        if response.status_code != 401:
            return response
        fresh = self._token.reread()
        if fresh == sent:
            return response
        response.read()
        response.close()
        request.headers["Authorization"] = f"Bearer {fresh}"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
