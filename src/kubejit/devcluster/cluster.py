"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the dev OIDC issuer
and kwok.

One object starts it, knows where everything is, and stops it again. All state lives in a temporary
directory removed at stop; kubeconfigs for the admin and each dev user go to ``output_dir`` (the temporary
directory itself unless one is given; a given one is locked while the cluster runs: ``dir_lock``). Ports are
free loopback ports; readiness is polled.

Used by ``kubejit devcluster up|run``, ``kubejit demo`` and the test suite's session fixture.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import yaml

from kubejit.devcluster import binaries, configfiles
from kubejit.devcluster.authorization import AuthorizationWebhook, authorization_configuration, webhook_kubeconfig
from kubejit.devcluster.dir_lock import DirectoryLock
from kubejit.devcluster.kwok import Kwok
from kubejit.devcluster.oidc import (
    DEFAULT_ID_TOKEN_TTL_SECONDS,
    DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
    DEFAULT_TOKEN_TTL_SECONDS,
    DevOIDCIssuer,
)
from kubejit.devcluster.pki import CertificateAuthority, new_signing_key_pem
from kubejit.devcluster.process import ManagedProcess, free_port, wait_until_ready
from kubejit.devcluster.scheduler import KubeScheduler
from kubejit.devcluster.users import DEV_USERS, DevUser, dev_user
from kubejit.domain.errors import Unavailable
from kubejit.transport import trust_context

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
_START_TIMEOUT = 90.0
# Aggregated ClusterRoles (view/edit/admin), namespace deletion, `default` ServiceAccounts, ownerReferences.
RBAC_AND_NAMESPACE_CONTROLLERS = (
    "clusterrole-aggregation-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "garbage-collector-controller",
    "root-ca-certificate-publisher-controller",  # kube-root-ca.crt, which pods' token volumes name
)
# What turns workload objects into pods and keeps Services and PodDisruptionBudgets up to date.
WORKLOAD_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "replicationcontroller-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "pod-garbage-collector-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "disruption-controller",
)
CONTROLLERS = RBAC_AND_NAMESPACE_CONTROLLERS + WORKLOAD_CONTROLLERS


@dataclass(frozen=True)
class AuditWebhook:
    """Where kube-apiserver should also send its audit events (batched), and the CA to trust there."""

    url: str
    ca_pem: bytes


@dataclass
class StartTimings:
    """Seconds spent in each phase of :meth:`DevCluster.start`, for ``devcluster up`` and the benchmark."""

    phases: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.phases.items())
        return f"{self.total:.1f}s ({parts})"


class DevCluster:
    """A real etcd + kube-apiserver (+ controllers, kube-scheduler, kwok) on loopback. Use as a context manager or
    start()/stop(). ``with_scheduler`` defaults to ``with_controllers``."""

    def __init__(
        self,
        output_dir: Path | None = None,
        *,
        with_kwok: bool = True,
        with_controllers: bool = True,
        with_scheduler: bool | None = None,
        audit_webhook: AuditWebhook | None = None,
        authorization_webhook: AuthorizationWebhook | None = None,
        apiserver_args: Sequence[str] = (),
        extra_issuers: Sequence[configfiles.TrustedIssuer] = (),
        keep_state: bool = False,
        log: Callable[[str], None] | None = None,
        id_token_ttl: int = DEFAULT_ID_TOKEN_TTL_SECONDS,
        refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
    ) -> None:
        self.with_kwok = with_kwok
        self.with_controllers = with_controllers
        self.with_scheduler = with_controllers if with_scheduler is None else with_scheduler
        self.audit_webhook = audit_webhook
        # kubejit's authorization webhook before RBAC (--authorization-config), or RBAC alone (None).
        self.authorization_webhook = authorization_webhook
        self.apiserver_args = tuple(apiserver_args)
        # Other OIDC issuers kube-apiserver trusts beside the dev issuer (settable until start(), e.g. to
        # Keycloak's, whose certificate comes from this cluster's CA).
        self.extra_issuers = tuple(extra_issuers)
        self.keep_state = keep_state
        self.id_token_ttl = id_token_ttl  # of ID tokens from the dev issuer's sign-in flows (mint_token: its own)
        self.refresh_token_ttl = refresh_token_ttl
        self._log = log or (lambda _message: None)
        self._requested_output_dir = output_dir
        self.state_dir = Path()
        self.output_dir = Path()
        self.server_url = ""
        self.timings = StartTimings()
        self.ca = CertificateAuthority()
        self._processes: list[ManagedProcess] = []
        self._issuer: DevOIDCIssuer | None = None
        self._bins: binaries.Binaries | None = None
        self._admin_cert: tuple[Path, Path] | None = None
        self._lock: DirectoryLock | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> DevCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every part and return once kube-apiserver is ready and accepts dev users' ID tokens."""
        self.state_dir = Path(tempfile.mkdtemp(prefix="kubejit-devcluster-"))
        self.output_dir = self._requested_output_dir or self.state_dir
        self.output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            if self._requested_output_dir is not None:  # nothing is written there before the lock is ours
                self._lock = DirectoryLock(self.output_dir)
                self._lock.acquire()
            self._phase("binaries", lambda: self._find_binaries())
            self._phase("etcd", self._start_etcd)
            self._phase("kube-apiserver", self._start_apiserver)
            self._phase("oidc", self._wait_for_oidc)
            self._write_kubeconfigs()
            controllers = self._spawn_controller_manager() if self.with_controllers else None
            scheduler = self._spawn_scheduler() if self.with_scheduler else None
            if self.with_kwok:
                self._phase("kwok", self._start_kwok)
            if controllers is not None:
                self._phase("controllers", lambda: self._wait_for_controllers(controllers))
            if scheduler is not None:
                self._phase("kube-scheduler", lambda: self._wait_for_scheduler(*scheduler))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process this cluster started (newest first) and remove its temporary files."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self._issuer is not None:
            self._issuer.stop()
            self._issuer = None
        if self.state_dir != Path() and not self.keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _phase(self, name: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        action()
        self.timings.phases[name] = time.monotonic() - started
        self._log(f"{name} ready in {self.timings.phases[name]:.2f}s")

    # ---- what callers use ------------------------------------------------------------------------------

    @property
    def bins(self) -> binaries.Binaries:
        if self._bins is None:
            raise Unavailable("the dev cluster is not started")
        return self._bins

    @property
    def issuer(self) -> DevOIDCIssuer:
        if self._issuer is None:
            raise Unavailable("the dev cluster is not started")
        return self._issuer

    @property
    def admin_kubeconfig(self) -> Path:
        return self.output_dir / "admin.kubeconfig"

    def user_kubeconfig(self, user: str) -> Path:
        return self.output_dir / f"{dev_user(user).name}.kubeconfig"

    @property
    def bin_dir(self) -> Path:
        """A directory holding only ``kubectl`` (the matching version), to put first on PATH."""
        return self.state_dir / "bin"

    def kubectl(
        self,
        *args: str,
        user: str = "admin",
        check: bool = False,
        input_text: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl as ``admin`` or a dev user against this cluster."""
        config = self.admin_kubeconfig if user == "admin" else self.user_kubeconfig(user)
        return subprocess.run(
            [str(self.bins.kubectl), "--kubeconfig", str(config), *args],
            capture_output=True,
            text=True,
            check=check,
            input=input_text,
            timeout=timeout,
        )

    def mint_token(
        self,
        user: str,
        *,
        ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
        audience: str | None = None,
        now: float | None = None,
    ) -> str:
        """A fresh ID token for a dev user, from the issuer kube-apiserver trusts."""
        return self.issuer.mint(dev_user(user), ttl_seconds=ttl_seconds, audience=audience, now=now)

    def admin_ssl_context(self) -> ssl.SSLContext:
        """TLS context trusting the cluster CA and presenting the admin client certificate."""
        if self._admin_cert is None:
            raise Unavailable("the dev cluster is not started")
        context = trust_context(cadata=self.ca.cert_pem)
        context.load_cert_chain(*self._admin_cert)
        return context

    # ---- the parts -------------------------------------------------------------------------------------

    def _find_binaries(self) -> None:
        self._bins = binaries.ensure(with_kwok=self.with_kwok, with_scheduler=self.with_scheduler, log=self._log)
        self.bin_dir.mkdir()
        (self.bin_dir / "kubectl").symlink_to(self._bins.kubectl)

    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.state_dir / f"{name}.log", env=env)
        self._processes.append(process)
        process.start()
        return process

    def _start_etcd(self) -> None:
        client_port, peer_port = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        self._etcd_url = client_url
        process = self._spawn(
            "etcd",
            [
                str(self.bins.etcd),
                "--name=dev",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=dev={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            try:
                response = httpx.get(f"{client_url}/health", timeout=1.0)
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and response.json().get("health") == "true"

        wait_until_ready(process, healthy, what="healthy", timeout=_START_TIMEOUT)

    def _start_apiserver(self) -> None:
        state = self.state_dir
        (state / "ca.crt").write_bytes(self.ca.cert_pem)
        serving_cert, serving_key = self.ca.issue_server("kube-apiserver").write(state, "apiserver")
        self._admin_cert = self.ca.issue_client("kubejit-admin", ("system:masters",)).write(state, "admin")
        kubelet_client = self.ca.issue_client("kube-apiserver-kubelet-client").write(state, "kubelet-client")
        sa_private, sa_public = new_signing_key_pem()
        (state / "sa.key").touch(mode=0o600)
        (state / "sa.key").write_bytes(sa_private)
        (state / "sa.pub").write_bytes(sa_public)

        self._issuer = DevOIDCIssuer(
            self.ca.issue_server("dev-oidc-issuer"),
            state,
            id_token_ttl=self.id_token_ttl,
            refresh_token_ttl=self.refresh_token_ttl,
        )
        self._issuer.start()
        configfiles.write_yaml(
            state / "authentication.yaml",
            configfiles.authentication_configuration(
                self._issuer.url, self._issuer.audience, self.ca.cert_pem, self.extra_issuers
            ),
        )
        configfiles.write_yaml(state / "audit-policy.yaml", configfiles.audit_policy())

        port = free_port()
        self.server_url = f"https://127.0.0.1:{port}"
        argv = [
            str(self.bins.kube_apiserver),
            f"--etcd-servers={self._etcd_url}",
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # 1.37 refuses a loopback advertise address while it maintains the kubernetes Endpoints.
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={serving_cert}",
            f"--tls-private-key-file={serving_key}",
            f"--client-ca-file={state / 'ca.crt'}",
            *self._authorization_flags(),
            f"--authentication-config={state / 'authentication.yaml'}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={state / 'sa.pub'}",
            f"--service-account-signing-key-file={state / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            f"--kubelet-client-certificate={kubelet_client[0]}",
            f"--kubelet-client-key={kubelet_client[1]}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-certificate-authority={state / 'ca.crt'}",
            f"--audit-policy-file={state / 'audit-policy.yaml'}",
            f"--audit-log-path={state / 'audit.log'}",
            "--audit-log-maxsize=50",
            "--profiling=false",
        ]
        if self.audit_webhook is not None:
            configfiles.write_yaml(
                state / "audit-webhook.kubeconfig",
                configfiles.audit_webhook_kubeconfig(self.audit_webhook.url, self.audit_webhook.ca_pem),
            )
            argv += [
                f"--audit-webhook-config-file={state / 'audit-webhook.kubeconfig'}",
                "--audit-webhook-mode=batch",
                "--audit-webhook-batch-max-wait=1s",
            ]
        if not self.with_controllers:
            # No serviceaccount-controller creates the `default` ServiceAccounts, so the ServiceAccount admission
            # plugin would refuse every pod. With the controller it is on: a pod created in the instant before its
            # namespace's `default` appears waits for it (the plugin looks it up again, up to 10 times).
            argv.append("--disable-admission-plugins=ServiceAccount")
        argv += self._service_account_discovery(state / "authentication.yaml")
        process = self._spawn("kube-apiserver", [*argv, *self.apiserver_args])
        client = httpx.Client(base_url=self.server_url, verify=self.admin_ssl_context(), timeout=2.0)
        with client:

            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until_ready(process, ready, what="ready (/readyz)", timeout=_START_TIMEOUT)
            self._open_service_account_discovery(client)

    def _authorization_flags(self) -> list[str]:
        """RBAC alone, or (``authorization_webhook``) a structured AuthorizationConfiguration with kubejit's webhook
        before RBAC; kube-apiserver takes one or the other, never both."""
        webhook = self.authorization_webhook
        if webhook is None:
            return ["--authorization-mode=RBAC"]
        kubeconfig = configfiles.write_yaml(
            self.state_dir / "authorization-webhook.kubeconfig", webhook_kubeconfig(webhook), private=True
        )
        config = configfiles.write_yaml(
            self.state_dir / "authorization.yaml", authorization_configuration(webhook, kubeconfig)
        )
        return [f"--authorization-config={config}"]

    # ---- the ServiceAccount issuer, as an OIDC issuer for kubejit (CI identities) ---------------------------

    @property
    def service_account_discovery_url(self) -> str:
        """Where a broker on this machine fetches the ServiceAccount issuer's discovery document (its ``issuer`` is
        :data:`SERVICE_ACCOUNT_ISSUER`, its ``jwks_uri`` this server's ``/openid/v1/jwks``)."""
        return f"{self.server_url}/.well-known/openid-configuration"

    def _service_account_discovery(self, authentication_file: Path) -> list[str]:
        """kube-apiserver flags and configuration so that the ServiceAccount issuer's discovery document and keys
        can be read from this machine, anonymously (those two paths only): the discovery document names this
        server's own URL as ``jwks_uri``. The AuthenticationConfiguration gets its ``anonymous`` part here."""
        document = yaml.safe_load(authentication_file.read_text())
        document["anonymous"] = configfiles.anonymous_service_account_discovery()
        configfiles.write_yaml(authentication_file, document)
        return [f"--service-account-jwks-uri={self.server_url}/openid/v1/jwks"]

    def _open_service_account_discovery(self, admin: httpx.Client) -> None:
        """RBAC lets only ServiceAccounts read the issuer discovery by default; bind it to anonymous callers too
        (the paths anonymous requests may reach are limited by the AuthenticationConfiguration)."""
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubejit-dev:service-account-issuer-discovery"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:service-account-issuer-discovery",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}],
        }
        response = admin.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json=binding)
        if response.status_code not in (201, 409):
            raise Unavailable(f"cannot open the ServiceAccount issuer discovery: HTTP {response.status_code}")

    def _wait_for_oidc(self) -> None:
        """kube-apiserver fetches the issuer's keys in the background: wait until a dev token works."""
        token = self.issuer.mint(DEV_USERS[0], ttl_seconds=300)
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        context = trust_context(cadata=self.ca.cert_pem)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=self.server_url, verify=context, headers=headers, timeout=2.0) as client:

            def accepted() -> bool:
                try:
                    response = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json=review)
                except httpx.HTTPError:
                    return False
                return response.status_code in accepted_statuses

            # With kubejit's webhook first and its broker not started yet, the review fails (500 under failurePolicy
            # Deny, 403 under NoOpinion): the token was accepted all the same (one not yet trusted is a 401).
            accepted_statuses = {201} if self.authorization_webhook is None else {201, 403, 500}
            wait_until_ready(self._processes[-1], accepted, what="accepting dev OIDC tokens", timeout=_START_TIMEOUT)

    def _write_kubeconfigs(self) -> None:
        if self._admin_cert is None:
            raise Unavailable("kube-apiserver has not been started")
        cert_path, key_path = self._admin_cert
        admin = configfiles.client_cert_credentials(cert_path.read_bytes(), key_path.read_bytes())
        configfiles.write_yaml(
            self.admin_kubeconfig,
            configfiles.kubeconfig(self.server_url, self.ca.cert_pem, "admin", admin),
            private=True,
        )
        for user in DEV_USERS:
            self.write_user_kubeconfig(user, self.user_kubeconfig(user.name))

    def write_user_kubeconfig(self, user: DevUser, path: Path) -> Path:
        credentials = configfiles.token_credentials(self.issuer.mint(user))
        document = configfiles.kubeconfig(self.server_url, self.ca.cert_pem, user.name, credentials)
        return configfiles.write_yaml(path, document, private=True)

    def _spawn_controller_manager(self) -> ManagedProcess:
        """The controllers that make RBAC, namespaces and workloads (Deployments, Jobs, ...) behave as in a real
        cluster."""
        return self._spawn(
            "kube-controller-manager",
            [
                str(self.bins.kube_controller_manager),
                f"--kubeconfig={self.admin_kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--root-ca-file={self.state_dir / 'ca.crt'}",
                "--leader-elect=false",
                "--secure-port=0",
            ],
        )

    def _wait_for_controllers(self, process: ManagedProcess) -> None:
        """Ready once the aggregated ClusterRoles (view, edit, admin) have their rules filled in."""
        with httpx.Client(base_url=self.server_url, verify=self.admin_ssl_context(), timeout=2.0) as client:

            def aggregated() -> bool:
                for role in ("view", "edit", "admin"):
                    response = client.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{role}")
                    if response.status_code != 200 or not response.json().get("rules"):
                        return False
                return True

            wait_until_ready(process, aggregated, what="aggregating ClusterRoles", timeout=_START_TIMEOUT)

    def _spawn_scheduler(self) -> tuple[KubeScheduler, ManagedProcess]:
        """kube-scheduler as ``system:kube-scheduler``, so pods without a ``nodeName`` land on the kwok node."""
        if self.bins.kube_scheduler is None:
            raise Unavailable("kube-scheduler was not built: start the cluster with with_scheduler=True")
        scheduler = KubeScheduler(self.bins.kube_scheduler, self.state_dir, self.ca, self.server_url)
        return scheduler, self._spawn("kube-scheduler", scheduler.argv())

    def _wait_for_scheduler(self, scheduler: KubeScheduler, process: ManagedProcess) -> None:
        scheduler.wait_ready(process, trust_context(cadata=self.ca.cert_pem))

    def _start_kwok(self) -> None:
        if self.bins.kwok is None:
            raise Unavailable("kwok was not built: start the cluster with with_kwok=True")
        kwok = Kwok(self.bins.kwok, self.state_dir, self.ca)
        process = self._spawn("kwok", kwok.argv(self.admin_kubeconfig), env=kwok.env())
        kwok.wait_ready(process, self.server_url, self.admin_ssl_context())
