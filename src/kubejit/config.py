"""The broker's configuration file (``kubejit serve --config FILE``), validated with clear errors.

Paths in the file are relative to the file's own directory. The policy lives in its own file, named here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.transport import is_loopback


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


class OidcIssuerConfig(_Model):
    issuer: str
    audience: str = "kubejit"
    ca_file: Path | None = None
    username_claim: str = "sub"
    groups_claim: str = "groups"
    clock_skew: timedelta = timedelta(seconds=30)

    _skew = field_validator("clock_skew", mode="before")(_duration)


class KubernetesConfig(_Model):
    kubeconfig: Path | None = None  # None: in-cluster ServiceAccount
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


class ReconcileConfig(_Model):
    poll_interval: timedelta = timedelta(seconds=0.5)
    sweep_interval: timedelta = timedelta(seconds=10)

    _durations = field_validator("poll_interval", "sweep_interval", mode="before")(_duration)


class BrokerConfig(_Model):
    api_version: Literal["kubejit.io/v1alpha1"] = "kubejit.io/v1alpha1"
    kind: Literal["BrokerConfig"] = "BrokerConfig"
    policy_file: Path
    # Names this installation's bindings; brokers sweep only their own instance's bindings.
    instance: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    database_url: str = "sqlite:///kubejit.db"
    listen: ListenConfig = ListenConfig()
    # One issuer: identities from several issuers would share one name space (the same "alice" or group
    # "platform-admins" from two IdPs) until per-issuer prefixes exist.
    oidc: list[OidcIssuerConfig] = Field(min_length=1, max_length=1)
    kubernetes: KubernetesConfig = KubernetesConfig()
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    audit: AuditConfig = AuditConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    gateway: GatewayLinkConfig | None = None
    # The key that seals every request row (HMAC-SHA256), so that a row written behind the broker's back is never
    # a grant. It must not be readable by whoever can write the database. Default: request-seal.key in the
    # directory of the audit signing key (the broker's keys), created 0600 on first start.
    request_seal_key_file: Path | None = None

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

    _staleness = field_validator("max_staleness", mode="before")(_duration)


class GatewayAuditConfig(_Model):
    fail_mode: Literal["closed", "open"] = "closed"  # refuse requests while activity cannot be delivered
    max_delay: timedelta = timedelta(seconds=10)

    _delay = field_validator("max_delay", mode="before")(_duration)


class GatewayConfig(_Model):
    """``kubejit gateway --config FILE``."""

    api_version: Literal["kubejit.io/v1alpha1"] = "kubejit.io/v1alpha1"
    kind: Literal["GatewayConfig"] = "GatewayConfig"
    name: str = "gateway"
    policy_file: Path
    listen: ListenConfig
    kubernetes: KubernetesConfig  # kubeconfig: kube-apiserver and the gateway's own (impersonating) credentials
    broker: GatewayBrokerConfig
    oidc: list[OidcIssuerConfig] = Field(default=[], max_length=1)  # accept ID tokens too (optional)
    audit: GatewayAuditConfig = GatewayAuditConfig()

    @model_validator(mode="after")
    def _tls(self) -> GatewayConfig:
        if self.listen.tls_cert_file is None:
            raise ValueError("the gateway serves HTTPS only: set listen.tlsCertFile and listen.tlsKeyFile")
        return self


def load_gateway_config(path: Path) -> GatewayConfig:
    """Read and validate a gateway config; relative paths are taken from the file's directory."""
    return _load(path, GatewayConfig, "gateway config")
