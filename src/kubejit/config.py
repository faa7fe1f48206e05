"""The broker's configuration file (``kubejit serve --config FILE``), validated with clear errors.

Paths in the file are relative to the file's own directory. The policy lives in its own file, named here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kubejit.adapters.kube.in_cluster import DEFAULT_SERVICE_ACCOUNT_DIR
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.domain.identity_names import identity_prefix_problem, quoted
from kubejit.transport import is_loopback, url_problem


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("write a duration like 45s, 30m or 1h")
    try:
        return parse_duration(value)
    except InvalidInput as error:
        raise ValueError(str(error)) from None


class ListenConfig(_Model):
    address: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Bearer ID tokens travel in every request: plain HTTP only on loopback, or behind a TLS-terminating proxy
    # that the operator vouches for with this flag.
    allow_plain_http: bool = False

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> ListenConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tlsCertFile and tlsKeyFile, or neither")
        if self.tls_cert_file is None and not is_loopback(self.address) and not self.allow_plain_http:
            raise ValueError(
                f"listening on {self.address} without TLS would send ID tokens in clear text: set tlsCertFile and "
                "tlsKeyFile, or allowPlainHttp: true behind a TLS-terminating proxy"
            )
        return self


DEFAULT_LOGIN_SCOPES = ("openid", "profile", "email", "groups", "offline_access")
_ISSUER_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class OidcLoginConfig(_Model):
    """How ``kubejit login`` signs people in at this issuer (served by ``GET /api/v1/login/options``)."""

    client_id: str = Field(min_length=1)
    scopes: list[str] = Field(default=list(DEFAULT_LOGIN_SCOPES), min_length=1)
    # Only for identity providers that hand out non-confidential "installed app" secrets (Google): it is
    # published to every caller of the login options, so it must never be a real client secret.
    client_secret: str | None = None

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, scopes: list[str]) -> list[str]:
        if "openid" not in scopes:
            raise ValueError("the scopes must include 'openid', or the identity provider sends no ID token")
        return scopes


class OidcIssuerConfig(_Model):
    """One trusted issuer; the fields mirror kube-apiserver's AuthenticationConfiguration ``jwt[]`` entry."""

    name: str = Field(pattern=_ISSUER_NAME, max_length=63)  # default: from the issuer's host (see _default_name)
    issuer: str
    discovery_url: str | None = None  # default: {issuer}/.well-known/openid-configuration
    audience: str = "kubejit"
    ca_file: Path | None = None
    username_claim: str = "sub"
    groups_claim: str = "groups"
    username_prefix: str = ""
    groups_prefix: str = ""
    policy_claims: list[str] = []
    clock_skew: timedelta = timedelta(seconds=30)
    login: OidcLoginConfig | None = None

    _skew = field_validator("clock_skew", mode="before")(_duration)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: object) -> object:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("issuer"), str):
            return {**data, "name": issuer_name_from(data["issuer"])}
        return data

    @field_validator("username_prefix", "groups_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        problem = identity_prefix_problem(prefix)
        if problem is not None:
            raise ValueError(f"{quoted(prefix)} {problem}: choose a prefix such as 'staff:' or 'ci:'")
        return prefix

    @field_validator("policy_claims")
    @classmethod
    def _claim_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or any(not part for part in name.split("/")) or name != name.strip():
                raise ValueError(
                    f"{quoted(name)} is not a claim name: write it as the token has it, with '/' between the "
                    "names of nested objects (e.g. kubernetes.io/serviceaccount/name)"
                )
        if len(set(names)) != len(names):
            raise ValueError("a claim is listed twice: list each claim once")
        return names


def issuer_name_from(url: str) -> str:
    """The default issuer name: its host (and port) in lower case, every other character a '-'."""
    parts = urlsplit(url)
    host = (parts.hostname or "issuer") + (f"-{parts.port}" if parts.port else "")
    return re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")[:63].strip("-") or "issuer"


def _issuers_apart(issuers: list[OidcIssuerConfig]) -> list[OidcIssuerConfig]:
    """Several issuers must keep their identities apart: unique names and URLs, and (with two or more) prefixes
    that no other issuer's prefix starts with, so that no identity provider can mint another one's users."""
    problems = [*_duplicates(issuers, "name"), *_duplicates(issuers, "issuer")]
    if len(issuers) > 1:
        problems += [problem for issuer in issuers for problem in _prefix_missing(issuer)]
        for field_name in ("username_prefix", "groups_prefix"):
            problems += _overlapping(issuers, field_name)
    if problems:
        raise ValueError("; ".join(problems))
    return issuers


def _duplicates(issuers: list[OidcIssuerConfig], field_name: str) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for index, issuer in enumerate(issuers):
        value = getattr(issuer, field_name)
        if value in seen:
            problems.append(
                f"oidc[{seen[value]}] and oidc[{index}] have the same {field_name} {value!r}: "
                + ("give each issuer its own name" if field_name == "name" else "configure each issuer once")
            )
        seen.setdefault(value, index)
    return problems


def _prefix_missing(issuer: OidcIssuerConfig) -> list[str]:
    return [
        f"issuer {issuer.name!r} has no {to_camel(field_name)}: with several issuers each one needs its own "
        "prefix (e.g. 'staff:' and 'ci:'), as in kube-apiserver's claimMappings, or their names would mix"
        for field_name in ("username_prefix", "groups_prefix")
        if not getattr(issuer, field_name)
    ]


def _overlapping(issuers: list[OidcIssuerConfig], field_name: str) -> list[str]:
    problems = []
    for index, one in enumerate(issuers):
        for other in issuers[index + 1 :]:
            a, b = getattr(one, field_name), getattr(other, field_name)
            if a and b and (a.startswith(b) or b.startswith(a)):
                problems.append(
                    f"the {to_camel(field_name)}es of issuers {one.name!r} ({a!r}) and {other.name!r} ({b!r}) "
                    "overlap: one starts with the other, so one identity provider could mint the other's names; "
                    "choose prefixes of which none starts another (e.g. 'staff:' and 'ci:')"
                )
    return problems


class KubernetesConfig(_Model):
    # None: in a pod, as its ServiceAccount (KUBERNETES_SERVICE_HOST/PORT and the files in serviceAccountDir)
    kubeconfig: Path | None = None
    service_account_dir: Path = DEFAULT_SERVICE_ACCOUNT_DIR  # token, ca.crt, namespace; used without kubeconfig
    namespace: str = "kubejit-system"


class LeaderElectionConfig(_Model):
    enabled: bool = True
    lease_name: str = "kubejit-broker"
    identity: str | None = None  # default: the host name; keep it stable so a restarted broker resumes at once
    lease_duration: timedelta = timedelta(seconds=15)
    renew_interval: timedelta = timedelta(seconds=2)

    _durations = field_validator("lease_duration", "renew_interval", mode="before")(_duration)


DEFAULT_AUDIT_KEY = Path("/etc/kubejit/audit/signing.key")


class AuditConfig(_Model):
    checkpoint_config_map: str | None = "kubejit-audit-checkpoint"
    checkpoint_file: Path | None = None
    # Ed25519 PEM; generated (0600) on first start if missing. Never beside the database by default: whoever
    # can write the database must not also hold the key that signs its checkpoints (mount it from a Secret).
    signing_key_file: Path = DEFAULT_AUDIT_KEY
    checkpoint_max_age: timedelta = timedelta(minutes=10)  # `audit verify` reports older uncovered events

    _max_age = field_validator("checkpoint_max_age", mode="before")(_duration)


class WebhookConfig(_Model):
    url: str
    format: Literal["generic", "slack"] = "generic"
    events: list[str] | None = None
    ca_file: Path | None = None


class NotificationsConfig(_Model):
    webhooks: list[WebhookConfig] = []
    expiring_notice: timedelta = timedelta(minutes=5)

    _notice = field_validator("expiring_notice", mode="before")(_duration)


class GatewayLinkConfig(_Model):
    """How the broker serves the gateways: where people's kubeconfigs point, and the secrets it shares."""

    url: str  # the gateway's HTTPS URL, written into kubeconfigs by `kubejit kubeconfig`
    ca_file: Path | None = None  # CA of the gateway's serving certificate, embedded in those kubeconfigs
    signing_key_file: Path = Path("gateway-signing.key")  # EC P-256, generated (0600) on first start if missing
    token_ttl: timedelta = timedelta(minutes=5)
    client_token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # sha256 of the gateways' shared secret

    _ttl = field_validator("token_ttl", mode="before")(_duration)


class AuthorizationWebhookConfig(_Model):
    """Authorization-webhook mode: kube-apiserver asks the broker about each request of the users kubejit manages
    (``POST /api/v1/authorization/review``, a SubjectAccessReview v1), and the profiles' guardrails apply to plain
    kubectl too. docs/deployment.md ("Authorization webhook") has the AuthorizationConfiguration to give it."""

    # sha256 (64 lower-case hex digits) of the bearer token in kube-apiserver's webhook kubeconfig; the broker
    # refuses every review that does not present that token (401), so nobody else can probe who may do what.
    client_token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # false (the default): grants create no RBAC bindings at all; the webhook is the only way a grant reaches the
    # cluster, so a guardrail cannot be bypassed through RBAC. true: bindings are made too (RBAC mode and the
    # webhook side by side, e.g. while moving from one to the other): RBAC then allows what the webhook leaves
    # to it, and with failurePolicy NoOpinion a broker that cannot be reached leaves guardrails unenforced.
    bindings: bool = False


class ReconcileConfig(_Model):
    poll_interval: timedelta = timedelta(seconds=0.5)
    sweep_interval: timedelta = timedelta(seconds=10)

    _durations = field_validator("poll_interval", "sweep_interval", mode="before")(_duration)


class ConsoleConfig(_Model):
    """The web console at ``/console`` (docs/console.md): where people's browsers reach the broker, and where
    they sign in."""

    enabled: bool = True
    # The broker's URL as browsers reach it, without a path: https://, or http:// on loopback only. The OIDC
    # redirect URI to register at the identity provider is {publicUrl}/console/callback. Default: the listen
    # address when it is loopback with a fixed port (the dev broker); otherwise the console needs it.
    public_url: str | None = None
    issuer: str | None = None  # the name of the oidc[] entry people sign in at; default: the first with login

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        problem = url_problem(url)
        if problem is not None or urlsplit(url).path.strip("/") or urlsplit(url).query:
            raise ValueError(
                f"{quoted(url)} must be the broker's https:// URL (http:// only on loopback) without a path, e.g. "
                "https://jit.example.com"
            )
        return url.rstrip("/")


class BrokerConfig(_Model):
    api_version: Literal["kubejit.io/v1alpha1"] = "kubejit.io/v1alpha1"
    kind: Literal["BrokerConfig"] = "BrokerConfig"
    policy_file: Path
    # Names this installation's bindings; brokers sweep only their own instance's bindings.
    instance: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    database_url: str = "sqlite:///kubejit.db"
    listen: ListenConfig = ListenConfig()
    # Several issuers only with per-issuer prefixes that keep their names apart (_issuers_apart).
    oidc: list[OidcIssuerConfig] = Field(min_length=1)
    kubernetes: KubernetesConfig = KubernetesConfig()
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    audit: AuditConfig = AuditConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    gateway: GatewayLinkConfig | None = None
    # Serve kube-apiserver's authorization webhook (null: off, and the route answers 404).
    authorization_webhook: AuthorizationWebhookConfig | None = None
    # The key that seals every request row (HMAC-SHA256), so that a row written behind the broker's back is never
    # a grant. It must not be readable by whoever can write the database. Default: request-seal.key in the
    # directory of the audit signing key (the broker's keys), created 0600 on first start.
    request_seal_key_file: Path | None = None
    # How often the policy file is read for changes (a mounted ConfigMap changes in place); null: only on SIGHUP.
    policy_reload_interval: timedelta | None = timedelta(seconds=10)
    console: ConsoleConfig = ConsoleConfig()

    @field_validator("policy_reload_interval", mode="before")
    @classmethod
    def _reload_interval(cls, value: object) -> timedelta | None:
        return None if value is None else _duration(value)

    _oidc = field_validator("oidc")(_issuers_apart)

    @property
    def console_url(self) -> str | None:
        """Where the console is (``{publicUrl}/console``), or None when it is off or its public URL is unknown."""
        console, listen = self.console, self.listen
        if not console.enabled:
            return None
        if console.public_url is not None:
            return f"{console.public_url}/console"
        if not is_loopback(listen.address) or listen.port == 0:
            return None
        host = f"[{listen.address}]" if ":" in listen.address else listen.address
        return f"{'https' if listen.tls_cert_file else 'http'}://{host}:{listen.port}/console"

    @property
    def seal_key_file(self) -> Path:
        """Where the request seal key is: as configured, or beside the audit signing key."""
        return self.request_seal_key_file or self.audit.signing_key_file.parent / "request-seal.key"


_Config = TypeVar("_Config", bound=BaseModel)


def _load(path: Path, model: type[_Config], what: str) -> _Config:
    """Read and validate one config file; every problem is listed at once, under the file's name."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise InvalidInput(f"cannot read {what} {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise InvalidInput(f"{path}: not valid YAML: {error}") from error
    try:
        config = model.model_validate(data)
    except ValidationError as error:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_url=False)
        ]
        raise InvalidInput(f"{path}: {len(lines)} problem(s) in the {what}:\n" + "\n".join(lines)) from None
    return _paths_from(path.parent, config)


def _paths_from(base: Path, value: _Config) -> _Config:
    """``value`` with every relative path in it (nested settings and lists of them too) taken from ``base``."""
    update: dict[str, object] = {}
    for name in type(value).model_fields:
        field_value = getattr(value, name)
        if isinstance(field_value, Path) and not field_value.is_absolute():
            update[name] = base / field_value
        elif isinstance(field_value, BaseModel):
            update[name] = _paths_from(base, field_value)
        elif isinstance(field_value, list) and any(isinstance(item, BaseModel) for item in field_value):
            update[name] = [_paths_from(base, item) for item in field_value]
    return value.model_copy(update=update)


def load_config(path: Path) -> BrokerConfig:
    """Read and validate a broker config; relative paths (and a relative SQLite file) are taken from the file's
    directory."""
    config = _load(path, BrokerConfig, "broker config")
    database_url = config.database_url
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        database_url = f"sqlite:///{path.parent / database_url.removeprefix('sqlite:///')}"
    _key_apart_from(database_url, config.audit.signing_key_file, path)
    return config.model_copy(update={"database_url": database_url})


def _key_apart_from(database_url: str, key_file: Path, config_file: Path) -> None:
    """Refuse an audit signing key in the SQLite database's directory: one copy of that directory (a backup,
    a stolen volume) would hold both the trail and the key that vouches for it."""
    if not database_url.startswith("sqlite:///"):
        return
    database = Path(database_url.removeprefix("sqlite:///"))
    if database.parent.resolve() == key_file.parent.resolve():
        raise InvalidInput(
            f"{config_file}: audit.signingKeyFile {key_file} is in the database's directory {database.parent}: "
            "keep the signing key elsewhere (a Secret mounted read-only, e.g. /etc/kubejit/audit/signing.key)"
        )


class GatewayBrokerConfig(_Model):
    url: str
    ca_file: Path | None = None
    client_token_file: Path  # the shared secret; the broker holds only its sha256
    max_staleness: timedelta = timedelta(seconds=5)
    # The broker's web console as people reach it (https://jit.example.com/console): a refusal for want of a
    # grant links its request page, filled in. None: refusals name the kubejit command only.
    console_url: str | None = None

    _staleness = field_validator("max_staleness", mode="before")(_duration)


class GatewayAuditConfig(_Model):
    fail_mode: Literal["closed", "open"] = "closed"  # refuse requests while activity cannot be delivered
    max_delay: timedelta = timedelta(seconds=10)

    _delay = field_validator("max_delay", mode="before")(_duration)


class GatewayMetricsConfig(_Model):
    """The gateway's monitoring listener (``/metrics``, ``/healthz``, ``/readyz``): plain HTTP, apart from the
    proxy's port. It serves no credentials and takes none (label values are profile and guardrail names, never
    users), so loopback (the default) or a pod address that only the monitoring system reaches is fine."""

    listen: str = "127.0.0.1:9443"  # host:port; port 0 picks a free one

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"write the metrics listener as host:port (e.g. 127.0.0.1:9443), not {value!r}")
        return value

    @property
    def address(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class GatewayConfig(_Model):
    """``kubejit gateway --config FILE``."""

    api_version: Literal["kubejit.io/v1alpha1"] = "kubejit.io/v1alpha1"
    kind: Literal["GatewayConfig"] = "GatewayConfig"
    name: str = "gateway"
    policy_file: Path
    listen: ListenConfig
    kubernetes: KubernetesConfig  # kubeconfig: kube-apiserver and the gateway's own (impersonating) credentials
    broker: GatewayBrokerConfig
    oidc: list[OidcIssuerConfig] = []  # accept ID tokens too (optional); the same entries as the broker's
    audit: GatewayAuditConfig = GatewayAuditConfig()
    metrics: GatewayMetricsConfig | None = None  # the monitoring listener; none without this section

    _oidc = field_validator("oidc")(_issuers_apart)

    @model_validator(mode="after")
    def _tls(self) -> GatewayConfig:
        if self.listen.tls_cert_file is None:
            raise ValueError("the gateway serves HTTPS only: set listen.tlsCertFile and listen.tlsKeyFile")
        return self


def load_gateway_config(path: Path) -> GatewayConfig:
    """Read and validate a gateway config; relative paths are taken from the file's directory."""
    return _load(path, GatewayConfig, "gateway config")
