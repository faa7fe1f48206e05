"""kube-apiserver as the gateway's kubeconfig names it (its address, the CA to trust and the gateway's own
credentials: a client certificate or a token), or as a pod finds it (:func:`upstream_in_cluster`: the
ServiceAccount's token, re-read as the kubelet rotates it), made into an :class:`Upstream`.

:func:`kubejit.bootstrap.build_gateway` calls one of them once at start. Credentials embedded in the kubeconfig
(``*-data``) are written to a private temporary directory only for as long as the TLS context takes to load
them: the directory is removed before the function returns, whether it succeeds or not, so no copy of the
gateway's private key stays on disk while it runs or after it stops.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kubejit.adapters.kube.in_cluster import load_in_cluster
from kubejit.adapters.kube.upstream import Upstream, header_safe
from kubejit.domain.errors import InvalidInput
from kubejit.transport import TrustError, trust_context

SCRATCH_PREFIX = "kubejit-gateway-"


def upstream_from_kubeconfig(path: Path, *, scratch_parent: Path | None = None) -> Upstream:
    """kube-apiserver's address and the gateway's credentials (client certificate or token) from a kubeconfig;
    ``scratch_parent`` is where the short-lived directory for embedded credentials goes (default: the system's)."""
    try:
        document: Any = yaml.safe_load(path.read_text())
        context_name = document["current-context"]
        context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in document["users"] if u["name"] == context["user"])
    except (OSError, KeyError, StopIteration, TypeError, yaml.YAMLError) as error:
        raise InvalidInput(f"cannot use kubeconfig {path}: {error}") from error
    server = urlsplit(cluster["server"])
    if server.scheme != "https" or not server.hostname:
        raise InvalidInput(f"kubeconfig {path}: the server must be an https:// URL")
    token = user.get("token")
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=scratch_parent) as scratch:
        context_tls, has_cert = _tls_context(path, cluster, user, Path(scratch))
    if not has_cert and not token:
        raise InvalidInput(f"kubeconfig {path}: the gateway needs a client certificate or a token")
    if token and not header_safe(str(token).encode()):
        raise InvalidInput(f"kubeconfig {path}: the user's token contains a line break or NUL; fix the file")
    return Upstream(server.hostname, server.port or 443, context_tls, bearer=token)


def upstream_in_cluster(service_account_dir: Path, environ: Mapping[str, str] | None = None) -> Upstream:
    """kube-apiserver at ``KUBERNETES_SERVICE_HOST``:``KUBERNETES_SERVICE_PORT`` (from ``environ``, default the
    process's), trusted through the ServiceAccount's ``ca.crt``, with its token as the gateway's credential."""
    found = load_in_cluster(service_account_dir, environ)
    context_tls = found.trust()
    context_tls.set_alpn_protocols(["http/1.1"])
    return Upstream(found.host, found.port, context_tls, bearer_source=found.token.current)


def _tls_context(
    path: Path, cluster: dict[str, Any], user: dict[str, Any], scratch: Path
) -> tuple[ssl.SSLContext, bool]:
    """The TLS context for kube-apiserver (its CA, the gateway's client certificate if it has one) and whether a
    client certificate was loaded."""

    def material(data_key: str, file_key: str, holder: dict[str, Any], name: str) -> Path | None:
        if data_key in holder:
            target = scratch / name
            target.touch(mode=0o600)
            target.write_bytes(base64.b64decode(holder[data_key]))
            return target
        if file_key in holder:
            return (path.parent / str(holder[file_key])).resolve()
        return None

    ca = material("certificate-authority-data", "certificate-authority", cluster, "upstream-ca.crt")
    try:
        context_tls = trust_context(cafile=ca)  # the cluster's CA alone when the kubeconfig names one, as kubectl does
    except TrustError as error:
        raise InvalidInput(f"kubeconfig {path}: the cluster's certificate authority: {error}") from None
    cert = material("client-certificate-data", "client-certificate", user, "gateway-client.crt")
    key = material("client-key-data", "client-key", user, "gateway-client.key")
    if cert is not None and key is not None:
        context_tls.load_cert_chain(cert, key)
    context_tls.set_alpn_protocols(["http/1.1"])
    return context_tls, cert is not None
