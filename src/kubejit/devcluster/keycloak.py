"""A real identity provider for the test rig: Keycloak on 127.0.0.1, HTTPS only, serving the ``kubejit`` realm.

The cached distribution (:mod:`kubejit.devcluster.keycloak_dist`) runs in production mode (``start --optimized``,
database ``dev-mem``, local caches) rather than ``start-dev``: Keycloak 26's development mode always opens its
plain-HTTP listener (``HttpPropertyMappers.isHttpEnabled`` ignores ``--http-enabled=false`` there), and this
IdP must speak HTTPS only, with a serving certificate from the dev control plane's CA. The hostname is fixed, so
the issuer is ``https://127.0.0.1:PORT/realms/kubejit`` whatever Host header a client sends. Each instance has its
own home directory (``kc.home.dir``) in ``state_dir`` holding the realm document it imports at start, its
certificate and its log; ``lib/``, ``conf/``, ``themes/`` and ``providers/`` are links into the cache.

Start-up waits for the realm's discovery document; stop sends SIGTERM to the process group, then SIGKILL.
A start takes ~12-20 s on a 2-core machine once the distribution is cached (the first ever start downloads and
builds it: ~20 s more). Used by the test suite's ``keycloak`` fixture (tests/keycloak.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from kubejit.devcluster.configfiles import TrustedIssuer
from kubejit.devcluster.keycloak_dist import KeycloakDist, ensure_keycloak, java_argv
from kubejit.devcluster.keycloak_realm import CLIENT_ID, DEFAULT_LIFETIMES, REALM, TokenLifetimes, realm_document
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready
from kubejit.domain.errors import Unavailable
from kubejit.transport import trust_context

_START_TIMEOUT = 240.0
_STOP_TIMEOUT = 20.0
_LINKED_DIRECTORIES = ("lib", "conf", "themes", "providers")


class Keycloak:
    """One Keycloak process. Use as a context manager or start()/stop(); the port is chosen at construction."""

    def __init__(
        self,
        ca: CertificateAuthority,
        state_dir: Path,
        *,
        lifetimes: TokenLifetimes = DEFAULT_LIFETIMES,
        dist: KeycloakDist | None = None,
        log: Callable[[str], None] | None = None,
        start_timeout: float = _START_TIMEOUT,
    ) -> None:
        self.ca = ca
        self.state_dir = state_dir
        self.lifetimes = lifetimes
        self.start_timeout = start_timeout
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/realms/{REALM}"
        self.client_id = CLIENT_ID
        self.start_seconds = 0.0
        self.serving_cert_pem = b""
        self._dist = dist
        self._log = log or (lambda _message: None)
        self._process: ManagedProcess | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Keycloak:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def home(self) -> Path:
        return self.state_dir / "keycloak-home"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "keycloak.log"

    def start(self) -> None:
        """Start Keycloak and return once the realm's discovery document is served with the right issuer."""
        dist = self._dist or ensure_keycloak(log=self._log)
        cert, key = self._prepare_home(dist)
        argv = java_argv(
            self.home,
            dist.java,
            "start",
            "--optimized",
            "--cache=local",
            "--http-enabled=false",
            "--http-host=127.0.0.1",
            f"--https-port={self.port}",
            f"--https-certificate-file={cert}",
            f"--https-certificate-key-file={key}",
            f"--hostname={self.url}",
            "--import-realm",
            "--log-console-color=false",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "QUARKUS_", "JAVA_OPTS"))}
        env["JAVA_HOME"] = str(dist.java_home)
        started = time.monotonic()
        self._process = ManagedProcess("keycloak", argv, self.log_path, env=env)
        self._process.start()
        try:
            wait_until_ready(
                self._process,
                self._serves_discovery,
                what=f"serving {self.issuer}/.well-known/openid-configuration",
                timeout=self.start_timeout,
                interval=0.25,
            )
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        self._log(f"keycloak ready in {self.start_seconds:.1f}s at {self.issuer}")

    def stop(self) -> None:
        """SIGTERM to Keycloak's process group, SIGKILL after a grace period; the state directory stays."""
        process, self._process = self._process, None
        if process is None or process.pid is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT
        while process.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(process.pid, signal.SIGKILL)
        process.kill()

    def _prepare_home(self, dist: KeycloakDist) -> tuple[Path, Path]:
        import_dir = self.home / "data" / "import"
        import_dir.mkdir(parents=True, exist_ok=True)
        for name in _LINKED_DIRECTORIES:
            link = self.home / name
            if not link.is_symlink():
                link.symlink_to(dist.home / name, target_is_directory=True)
        realm = import_dir / f"{REALM}-realm.json"
        realm.touch(mode=0o600)
        realm.write_text(json.dumps(realm_document(self.lifetimes), indent=1))
        serving = self.ca.issue_server("keycloak")
        self.serving_cert_pem = serving.cert_pem
        return serving.write(self.home, "serving")

    # ---- what callers use ------------------------------------------------------------------------------

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    def http_client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client that trusts Keycloak's serving certificate (and nothing else)."""
        return httpx.Client(verify=trust_context(cadata=self.ca_pem), timeout=10.0, **kwargs)

    def discovery(self) -> dict[str, Any]:
        with self.http_client() as client:
            response = client.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        if document.get("issuer") != self.issuer:
            raise Unavailable(f"Keycloak at {self.url} names its issuer {document.get('issuer')!r}, not {self.issuer}")
        return document

    def trusted_issuer(self, *, username_prefix: str = "", groups_prefix: str = "") -> TrustedIssuer:
        """How kube-apiserver should trust this realm's ID tokens (see ``DevCluster(extra_issuers=...)``)."""
        return TrustedIssuer(
            url=self.issuer,
            ca_pem=self.ca_pem,
            audience=self.client_id,
            username_claim="preferred_username",
            username_prefix=username_prefix,
            groups_claim="groups",
            groups_prefix=groups_prefix,
        )

    def tail(self, lines: int = 40) -> str:
        """The last lines of Keycloak's log, for a test failure message."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log written)"

    def _serves_discovery(self) -> bool:
        try:
            self.discovery()
        except (httpx.HTTPError, ValueError):
            return False
        return True


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
