"""Where kube-apiserver is and who kubejit is, when the broker or the gateway runs in a pod.

A pod learns the API server's address from ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``, and its
identity from the ServiceAccount directory the kubelet mounts (``token``, ``ca.crt``, ``namespace``). The token
there is a bound token: it expires (an hour by default) and the kubelet writes a new one well before that, so a
long-running process must not keep the copy it read at start. :class:`ServiceAccountToken` re-reads the file
whenever it changed (one ``stat`` per use) and at least once a minute, as client-go does; a caller that gets a
401 forces a re-read with :meth:`ServiceAccountToken.reread`.

:func:`load_in_cluster` is called by :mod:`kubejit.adapters.kube.client` (the broker's and the gateway's
Kubernetes client) and :mod:`kubejit.adapters.kube.upstream_config` (the gateway's proxy leg) when the config
names no kubeconfig. Missing variables or files are an :class:`~kubejit.domain.errors.InvalidInput` that says to
set ``kubernetes.kubeconfig``.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kubejit.domain.errors import InvalidInput, Unavailable
from kubejit.transport import TrustError, trust_context

DEFAULT_SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
HOST_VARIABLE = "KUBERNETES_SERVICE_HOST"
PORT_VARIABLE = "KUBERNETES_SERVICE_PORT"
TOKEN_MAX_AGE_SECONDS = 60.0  # re-read at least this often even if the file looks unchanged (client-go: 1 min)

_NOT_IN_CLUSTER = "not running in a cluster"
_WHAT_TO_DO = "set kubernetes.kubeconfig (or kubernetes.serviceAccountDir if the token is mounted elsewhere)"
_FORBIDDEN_IN_TOKEN = frozenset("\r\n\0")

log = logging.getLogger("kubejit.kube")


class ServiceAccountToken:
    """The bound ServiceAccount token in ``path``, as the kubelet last wrote it. Safe to use from several threads.

    ``clock`` gives monotonic seconds (a parameter so that tests need not wait a minute)."""

    def __init__(
        self,
        path: Path,
        *,
        max_age_seconds: float = TOKEN_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._seen: tuple[int, int, int, int] | None = None
        self._read_at = 0.0

    def current(self) -> str:
        """The token to send now: re-read if the file changed (the kubelet replaces it) or the copy is old."""
        try:
            stat = self.path.stat()
        except OSError as error:
            return self._keep_last(error)
        seen = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            fresh = self._token is not None and seen == self._seen
            if fresh and self._clock() - self._read_at < self._max_age:
                return str(self._token)
        return self._read(seen)

    def reread(self) -> str:
        """Read the file now (after kube-apiserver answered 401 to the token sent)."""
        return self._read(None)

    def _read(self, seen: tuple[int, int, int, int] | None) -> str:
        try:
            token = self.path.read_text().strip()
        except OSError as error:
            return self._keep_last(error)
        if not token:
            return self._keep_last(ValueError("the file is empty"))
        if not _FORBIDDEN_IN_TOKEN.isdisjoint(token):
            raise InvalidInput(f"ServiceAccount token {self.path} contains a line break or NUL: it is not a token")
        with self._lock:
            self._token, self._seen, self._read_at = token, seen, self._clock()
        return token

    def _keep_last(self, error: Exception) -> str:
        """A token file that cannot be read for a moment keeps the last good token (kube-apiserver still judges
        whether it is valid); with none read yet, the process cannot authenticate at all."""
        with self._lock:
            last = self._token
        if last is None:
            raise Unavailable(f"cannot read the ServiceAccount token {self.path}: {error}") from error
        log.warning("cannot re-read the ServiceAccount token %s (%s): still using the last one read", self.path, error)
        return last


@dataclass(frozen=True)
class InClusterConfig:
    """kube-apiserver's in-cluster address, the CA that signed its certificate, and the pod's ServiceAccount."""

    host: str
    port: int
    ca_file: Path
    namespace: str
    token: ServiceAccountToken

    @property
    def server_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 service address
        return f"https://{host}:{self.port}"

    def trust(self) -> ssl.SSLContext:
        """A TLS context that trusts the ServiceAccount's CA alone (the one that signed kube-apiserver's cert)."""
        try:
            return trust_context(cafile=self.ca_file)
        except TrustError as error:
            raise InvalidInput(f"the ServiceAccount's CA {self.ca_file}: {error}") from None


def load_in_cluster(directory: Path, environ: Mapping[str, str] | None = None) -> InClusterConfig:
    """The in-cluster config from ``environ`` (default: the process's) and the ServiceAccount ``directory``;
    the token is read once here, so a process without one refuses to start."""
    env = os.environ if environ is None else environ
    missing = [name for name in (HOST_VARIABLE, PORT_VARIABLE) if not env.get(name, "").strip()]
    if missing:
        raise InvalidInput(f"{_NOT_IN_CLUSTER}: {' and '.join(missing)} not set; {_WHAT_TO_DO}")
    host, port_text = env[HOST_VARIABLE].strip(), env[PORT_VARIABLE].strip()
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidInput(f"{PORT_VARIABLE}={port_text!r} is not a port number")
    for name in ("token", "ca.crt", "namespace"):
        if not (directory / name).is_file():
            raise InvalidInput(
                f"{_NOT_IN_CLUSTER}: no ServiceAccount {name} in {directory} (is a token mounted?); {_WHAT_TO_DO}"
            )
    namespace = _read_small(directory / "namespace")
    token = ServiceAccountToken(directory / "token")
    token.current()
    return InClusterConfig(host, int(port_text), directory / "ca.crt", namespace, token)


def _read_small(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from error
    if not text:
        raise InvalidInput(f"{path} is empty")
    return text
