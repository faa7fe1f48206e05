"""The one place where concrete adapters are chosen and wired into the services: the running broker and the
gateway's parts.

:func:`build_broker` turns a :class:`~kubejit.config.BrokerConfig` into a :class:`Broker`: storage
(migrated), the cluster adapters with the broker's own least-privilege credentials, leader election, the
audit checkpoint store, OIDC verification, notifications, the policy (loaded and reviewed against the
cluster: a policy with refused profiles does not start), and the services and threads on top of them.

:func:`build_gateway` turns a :class:`~kubejit.config.GatewayConfig` into :class:`GatewayParts`: the policy
(reviewed against the cluster, each profile's rules resolved once), the grant book and the access check on it,
the OIDC verifier if one is configured, and the authentication built from the broker's keys. The gateway's
entrypoint (``entrypoints/gateway/main.py``) adds what sits in the entrypoint layer (the broker link, the
kube-apiserver client, the open-stream registry and the proxy) and runs it.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubejit.adapters.broker_link import BrokerLink
from kubejit.adapters.clock import SystemClock
from kubejit.adapters.grant_tokens import GrantTokenSigner, GrantTokenVerifier, load_or_create_key
from kubejit.adapters.idp import OidcIssuer, OidcVerifier
from kubejit.adapters.kube.bindings import RbacBindings
from kubejit.adapters.kube.checkpoint import (
    ConfigMapCheckpoints,
    FileCheckpoints,
    generate_signing_key,
    load_signing_key,
)
from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.lease import LeaseElection
from kubejit.adapters.kube.role_rules import ClusterRoleRules
from kubejit.adapters.kube.upstream import Upstream
from kubejit.adapters.kube.upstream_config import upstream_from_kubeconfig, upstream_in_cluster
from kubejit.adapters.metrics import BrokerMetrics, KeeperView
from kubejit.adapters.no_bindings import NoBindings
from kubejit.adapters.notify import WebhookNotifier, WebhookTarget
from kubejit.adapters.policy_file import load_policy_file
from kubejit.adapters.policy_watch import PolicyFileWatcher, content_digest
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.adapters.store.sql import SqlStore
from kubejit.config import BrokerConfig, GatewayConfig, KubernetesConfig, OidcIssuerConfig
from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.domain.errors import InvalidInput, KubejitError
from kubejit.domain.grant_book import GrantBook
from kubejit.domain.policy import AccessPolicy, Profile, claims_kept_by_nobody
from kubejit.domain.rbac import PolicyRule
from kubejit.ports import CheckpointStore, Clock, Cluster, LeaderElection, Notification
from kubejit.services.access import AccessService
from kubejit.services.anomaly_watch import AnomalyWatch
from kubejit.services.audit import AuditService, Checkpointer
from kubejit.services.audit_replay import seal_explained_rows
from kubejit.services.authorization_webhook import AuthorizationWebhook
from kubejit.services.gateway_access import GatewayAccess
from kubejit.services.gateway_authentication import GatewayAuthentication, VerifiedGrantTokens
from kubejit.services.gateway_feed import GatewayFeed
from kubejit.services.gateway_sessions import Sessions
from kubejit.services.keeper import GrantKeeper
from kubejit.services.policy_review import PolicyHolder, require_usable, review_policy
from kubejit.services.reconciler import GrantReconciler
from kubejit.transport import TrustError, trust_context

if TYPE_CHECKING:
    from lightkube import Client

log = logging.getLogger("kubejit.broker")
gateway_log = logging.getLogger("kubejit.gateway")


@dataclass
class AuditSignal:
    """Everyone told that audit events were just committed: the checkpointer, and whoever listens later (the
    console's live pages wake their event streams with it, so a new event is pushed at once rather than polled
    for). Every service's ``on_audit`` is this; a listener must be quick and must not raise (one that does is
    logged, the others are still called)."""

    listeners: list[Callable[[], None]] = field(default_factory=list)

    def listen(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def __call__(self) -> None:
        for listener in tuple(self.listeners):
            try:
                listener()
            except Exception:
                log.exception("an audit listener failed")


class AlwaysLeader:
    """Leader election switched off: a single broker acts alone."""

    def is_leader(self) -> bool:
        return True


@dataclass
class Broker:
    config: BrokerConfig
    policy: PolicyHolder
    store: SqlStore
    access: AccessService
    audit: AuditService
    keeper: GrantKeeper
    checkpointer: Checkpointer
    verifier: OidcVerifier
    leader: LeaderElection
    notifier: WebhookNotifier
    metrics: BrokerMetrics
    clock: Clock
    gateway: GatewayFeed | None = None
    authorization: AuthorizationWebhook | None = None  # kube-apiserver's authorization webhook, if configured
    _lease: LeaseElection | None = None
    _policy_watch: PolicyFileWatcher | None = None
    _loaded_digest: str | None = None  # the policy file's content as last loaded (or refused)
    _reload_lock: threading.Lock = field(default_factory=threading.Lock)
    audit_moved: AuditSignal = field(default_factory=AuditSignal)  # after every audit commit (checkpoints, console)

    def start(self) -> None:
        """Start the background work: notifications, leader election, the keeper, checkpoints, and the watch on
        the policy file (``policyReloadInterval``)."""
        interval = self.config.policy_reload_interval
        if interval is not None:
            self._policy_watch = PolicyFileWatcher(
                self.config.policy_file, lambda: self.reload_policy(only_if_changed=True), interval=interval
            )
            self._policy_watch.start()
        self.notifier.start()
        if self._lease is not None:
            self._lease.start()
        self.keeper.start()
        self.checkpointer.start()

    def stop(self) -> None:
        if self._policy_watch is not None:
            self._policy_watch.stop()
        self.keeper.stop()
        self.checkpointer.stop()
        if self._lease is not None:
            self._lease.stop()
        self.notifier.stop(timeout=2.0)
        self.store.dispose()

    def readiness(self) -> tuple[bool, str]:
        try:
            with self.store(read_only=True) as uow:
                uow.audit.head()
            self.policy()
        except KubejitError as error:
            return False, f"not ready: {error}"
        if not self.keeper.alive():
            return False, "not ready: the grant keeper has stopped making passes"
        return True, "leader" if self.leader.is_leader() else "standby"

    def reload_policy(self, *, only_if_changed: bool = False) -> None:
        """Reload the policy file (SIGHUP, or its content changed); on failure the old policy stays and the
        failure is audited. One reload at a time; ``only_if_changed`` (the file watch) skips content already
        loaded or already refused, so a SIGHUP and the watch never audit the same file twice."""
        with self._reload_lock:
            digest = content_digest(self.config.policy_file)
            if only_if_changed and digest == self._loaded_digest:
                return
            self._loaded_digest = digest
            self._reload()

    def _reload(self) -> None:
        now = self.clock.now()
        try:
            policy = self.policy.reload()
        except KubejitError as error:
            log.error("policy reload failed, keeping the previous policy: %s", error)
            self._audit(AuditKind.POLICY_RELOAD_FAILED, {"file": str(self.config.policy_file), "error": str(error)})
            return
        if self.authorization is not None:
            try:
                self.authorization.prepare()  # the new profiles' rules, resolved before a review needs them
            except KubejitError as error:
                log.warning("the authorization webhook resolves the new profiles' rules at its next review: %s", error)
        self._audit(
            AuditKind.POLICY_LOADED,
            {**_policy_facts(self.config.policy_file), "name": policy.name, "at": now.isoformat()},
        )

    def _audit(self, kind: AuditKind, data: dict[str, object]) -> None:
        with self.store() as uow:
            uow.audit.append(kind=kind, actor="kubejit", at=self.clock.now(), data=data)
            uow.commit()
        self.audit_moved()


def _policy_facts(path: Path) -> dict[str, object]:
    return {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def build_broker(config: BrokerConfig, *, clock: Clock | None = None) -> Broker:
    """Everything the broker needs, wired; nothing started yet (call :meth:`Broker.start`)."""
    clock = clock or SystemClock()
    store = SqlStore(config.database_url, seal_key=load_or_create_seal_key(config.seal_key_file))
    store.migrate()
    _seal_legacy_rows(store)
    client = kube_client(config.kubernetes, field_manager="kubejit-broker")
    holder = PolicyHolder(lambda: policy_for_issuers(config.policy_file, config.oidc), ClusterRoleRules(client))
    initial_digest = content_digest(config.policy_file)  # before the read: a change meanwhile is seen later
    policy = holder.reload()

    lease: LeaseElection | None = None
    leader: LeaderElection = AlwaysLeader()
    replica = config.leader_election.identity or socket.gethostname()
    if config.leader_election.enabled:
        lease = LeaseElection(
            client,
            namespace=config.kubernetes.namespace,
            name=config.leader_election.lease_name,
            identity=replica,
            lease_duration=config.leader_election.lease_duration,
            renew_interval=config.leader_election.renew_interval,
        )
        leader = lease

    checkpoints = checkpoint_store(config, lambda: client)
    if checkpoints is None:
        log.warning("no audit checkpoint store is configured: removal of the newest events cannot be detected")

    audit = AuditService(holder, store, clock, checkpoints, checkpoint_max_age=config.audit.checkpoint_max_age)
    checkpointer = Checkpointer(audit, leader)
    audit_moved = AuditSignal([checkpointer.moved])

    def audit_failed_delivery(notification: Notification, target: WebhookTarget, reason: str) -> None:
        with store() as uow:
            uow.audit.append(
                kind=AuditKind.NOTIFICATION_FAILED,
                actor="kubejit",
                at=clock.now(),
                request_id=notification.request.id,
                data={"event": notification.event, "target": target.label, "reason": reason},
            )
            uow.commit()
        audit_moved()

    targets = [
        WebhookTarget(
            url=w.url,
            format=w.format,
            events=frozenset(w.events) if w.events is not None else None,
            ca_pem=w.ca_file.read_bytes() if w.ca_file else None,
        )
        for w in config.notifications.webhooks
    ]
    metrics = BrokerMetrics(
        profiles=lambda: {p.name for p in holder().profiles},
        guardrails=lambda: set(holder().guardrails),
        alert_rules=lambda: {rule.name for rule in holder().alerts},
        targets={t.label for t in targets},
    )

    def failed_delivery(notification: Notification, target: WebhookTarget, reason: str) -> None:
        metrics.delivery_failed(target.label)
        audit_failed_delivery(notification, target, reason)

    notifier = WebhookNotifier(
        targets, on_failure=failed_delivery, on_attempt=metrics.delivery_attempted, console_url=config.console_url
    )
    keeper = GrantKeeper(
        GrantReconciler(
            holder,
            store,
            grant_cluster(config, RbacBindings(client, instance=config.instance)),
            clock,
            leader,
            notifier,
            poll_interval=config.reconcile.poll_interval,
            sweep_interval=config.reconcile.sweep_interval,
            expiring_notice=config.notifications.expiring_notice,
            on_audit=audit_moved,
            replica=replica,
            observer=metrics,
        )
    )
    access = AccessService(holder, store, clock, notifier, wake_keeper=keeper.wake, on_audit=audit_moved)
    verifier = oidc_verifier(config.oidc, clock=clock)
    metrics.watch_keeper(keeper_view(keeper, checkpointer, leader))
    # The alert rules hear the gateways' recorded activity and the authorization webhook's denials.
    watch = AnomalyWatch(
        holder,
        store,
        clock,
        notifier,
        access.revoke_by_broker,
        alert_raised=metrics.alert_raised,
        on_audit=audit_moved,
    )
    gateway: GatewayFeed | None = None
    if config.gateway is not None:
        signer = GrantTokenSigner(load_or_create_key(config.gateway.signing_key_file))
        gateway = GatewayFeed(
            holder,
            store,
            clock,
            signer,
            config.gateway.token_ttl,
            signer.public_jwks(),
            on_audit=audit_moved,
            on_activity=_both(watch.observe, metrics.activity_recorded),
        )
    authorization: AuthorizationWebhook | None = None
    if config.authorization_webhook is not None:
        authorization = AuthorizationWebhook(
            holder,
            store,
            clock,
            holder.role_rules,
            on_denied=lambda profile, rule: metrics.guardrail_denied(profile, rule, "webhook"),
            console_url=config.console_url,
            on_decision=watch.observe,
        )
        authorization.prepare()
    broker = Broker(
        config,
        holder,
        store,
        access,
        audit,
        keeper,
        checkpointer,
        verifier,
        leader,
        notifier,
        metrics,
        clock,
        gateway,
        authorization,
        lease,
        _loaded_digest=initial_digest,
        audit_moved=audit_moved,
    )
    broker._audit(AuditKind.POLICY_LOADED, {**_policy_facts(config.policy_file), "name": policy.name})
    return broker


def _both(
    first: Callable[[Sequence[AuditEvent]], object], second: Callable[[Sequence[AuditEvent]], object]
) -> Callable[[Sequence[AuditEvent]], None]:
    """One activity hook that calls two (the anomaly watch, then the metrics)."""

    def both(events: Sequence[AuditEvent]) -> None:
        first(events)
        second(events)

    return both


def keeper_view(keeper: GrantKeeper, checkpointer: Checkpointer, leader: LeaderElection) -> KeeperView:
    """What the broker's metrics read at scrape time: the keeper's counts, the leader, the chain's last verdict."""
    stats = keeper.stats

    def last_pass() -> float | None:
        return keeper.last_pass.timestamp() if keeper.last_pass is not None else None

    def last_checkpoint() -> float | None:
        return checkpointer.checked_at.timestamp() if checkpointer.checked_at is not None else None

    return KeeperView(
        activated=lambda: stats.activated,
        expired=lambda: stats.expired,
        swept=lambda: stats.swept,
        failures=lambda: stats.failures,
        unrecognized=lambda: stats.unrecognized,
        refused=lambda: stats.refused,
        last_expiry_lag=lambda: stats.expiry_lag_seconds[-1] if stats.expiry_lag_seconds else 0.0,
        is_leader=leader.is_leader,
        pending_by_profile=lambda: stats.pending_by_profile,
        active_by_profile=lambda: stats.active_by_profile,
        last_pass=last_pass,
        chain_ok=lambda: checkpointer.chain_ok,
        last_checkpoint=last_checkpoint,
    )


def grant_cluster(config: BrokerConfig, bindings: Cluster) -> Cluster:
    """Where grants become access in the cluster: RBAC bindings, or none at all in authorization-webhook mode with
    ``bindings: false`` (kube-apiserver asks the broker instead; the old bindings are still removed)."""
    webhook = config.authorization_webhook
    if webhook is not None and not webhook.bindings:
        log.info("authorization-webhook mode without bindings: grants create no RBAC bindings")
        return NoBindings(bindings)
    return bindings


def checkpoint_store(config: BrokerConfig, client_factory: Callable[[], Client]) -> CheckpointStore | None:
    """The audit checkpoint store these settings name (its signing key loaded, or created on first use), or
    None when they name none. ``client_factory`` is called only for the ConfigMap store, so the file store
    needs no kubeconfig."""
    key_file = config.audit.signing_key_file
    key = load_signing_key(key_file) if key_file.exists() else generate_signing_key(key_file)
    if config.audit.checkpoint_file is not None:
        return FileCheckpoints(config.audit.checkpoint_file, key)
    if not config.audit.checkpoint_config_map:
        return None
    return ConfigMapCheckpoints(
        client_factory(),
        namespace=config.kubernetes.namespace,
        name=config.audit.checkpoint_config_map,
        signing_key=key,
    )


def _seal_legacy_rows(store: SqlStore) -> None:
    """Rows written before seals existed are sealed once, where the audit chain explains them; the rest are
    never access (the keeper and the gateway feed refuse them) and are logged, and `audit verify` names them."""
    sealed, refused = seal_explained_rows(store)
    if sealed:
        log.warning(
            "sealed %d request rows written before request seals existed (the audit chain explains them)", len(sealed)
        )
    if refused:
        log.error(
            "%d request rows are not explained by the audit chain and stay unsealed (never access): %s",
            len(refused),
            ", ".join(r.request_id for r in refused),
        )


def oidc_verifier(issuers: Sequence[OidcIssuerConfig], *, clock: Clock | None = None) -> OidcVerifier:
    """The ID-token verifier for the configured issuers (the broker's, and optionally a gateway's)."""
    return OidcVerifier(
        [
            OidcIssuer(
                url=i.issuer,
                audience=i.audience,
                ca_pem=i.ca_file.read_bytes() if i.ca_file else None,
                username_claim=i.username_claim,
                groups_claim=i.groups_claim,
                clock_skew=i.clock_skew,
                username_prefix=i.username_prefix,
                groups_prefix=i.groups_prefix,
                policy_claims=tuple(i.policy_claims),
                discovery_url=i.discovery_url,
            )
            for i in issuers
        ],
        clock=clock,
    )


def policy_for_issuers(policy_file: Path, issuers: Sequence[OidcIssuerConfig]) -> AccessPolicy:
    """The policy file, loaded and checked against the configured issuers (at start and at every reload): when
    the issuers put prefixes before their names, the policy's names already are the cluster's, so its own
    ``spec.identity`` prefixes must be empty (or every name would be prefixed twice); and every claim its rules
    name must be kept by some issuer."""
    policy = load_policy_file(policy_file)
    prefixed = [i for i in issuers if i.username_prefix or i.groups_prefix]
    mapping = policy.identity
    if prefixed and (mapping.username_prefix or mapping.groups_prefix):
        shown = ", ".join(
            f"{i.name!r} (usernamePrefix {i.username_prefix!r}, groupsPrefix {i.groups_prefix!r})" for i in prefixed
        )
        raise InvalidInput(
            f"{policy_file}: spec.identity sets usernamePrefix {mapping.username_prefix!r} and groupsPrefix "
            f"{mapping.groups_prefix!r}, but the broker config's OIDC issuers set their own prefixes ({shown}), "
            "which already make the names the cluster sees: remove spec.identity from the policy and write the "
            "prefixed names (e.g. staff:alice) in its subjects"
        )
    unkept = claims_kept_by_nobody(policy, (name for i in issuers for name in i.policy_claims))
    if unkept:
        raise InvalidInput(f"{policy_file}: " + "; ".join(f"{issue.path}: {issue.message}" for issue in unkept))
    return policy


@dataclass(frozen=True)
class GatewayParts:
    """What the gateway is made of below its entrypoint: built by :func:`build_gateway`, nothing started.

    The entrypoint (``entrypoints/gateway/main.py``) puts the proxy on top of these parts, starts the link's
    tasks and the cut-off loop, and serves."""

    config: GatewayConfig
    policy: AccessPolicy
    book: GrantBook  # the active grants as the broker link reports them
    access: GatewayAccess
    sessions: Sessions  # the open streams, cut when their grant ends
    link: BrokerLink  # grant stream, public keys and activity, to and from the broker
    upstream: Upstream  # kube-apiserver, with the gateway's own credentials
    id_tokens: OidcVerifier | None
    clock: Clock

    def authentication(self, public_keys: dict[str, Any]) -> GatewayAuthentication:
        """How bearer tokens are checked, once the broker's public keys (for grant tokens) are known."""
        return GatewayAuthentication(VerifiedGrantTokens(GrantTokenVerifier(public_keys)), self.id_tokens)


def build_gateway(config: GatewayConfig, *, clock: Clock | None = None) -> GatewayParts:
    """The gateway's policy (reviewed: a policy with refused profiles does not start), its profiles' rules
    resolved from the cluster once, the grant book and the access check on it, the open-stream registry, the
    link to the broker (which closes a grant's streams when the broker says it ended), kube-apiserver as the
    gateway's kubeconfig names it, and the OIDC verifier if one is configured."""
    # Without issuers of its own the gateway honours the broker's grants only, whose names the broker checked.
    policy = (
        policy_for_issuers(config.policy_file, config.oidc) if config.oidc else load_policy_file(config.policy_file)
    )
    role_rules = ClusterRoleRules(kube_client(config.kubernetes, field_manager="kubejit-gateway"))
    require_usable(review_policy(policy, role_rules))
    resolved: dict[str, tuple[PolicyRule, ...]] = {p.name: role_rules.rules_of(p.role) or () for p in policy.profiles}

    def rules(profile: Profile) -> tuple[PolicyRule, ...]:
        return resolved.get(profile.name, ())

    book = GrantBook(config.broker.max_staleness)
    sessions = Sessions()

    def close_sessions(grant: str, reason: str) -> None:
        closed = sessions.close_grant(grant, reason)
        if closed:
            gateway_log.info("closed %d open stream(s) of grant %s: %s", closed, grant, reason)

    link = BrokerLink(
        url=config.broker.url.rstrip("/"),
        client_token=config.broker.client_token_file.read_text().strip(),
        verify=_broker_trust(config),
        book=book,
        on_gone=close_sessions,
        on_listed=sessions.listed,
        gateway_name=config.name,
        fail_closed=config.audit.fail_mode == "closed",
        max_delay=config.audit.max_delay,
    )
    return GatewayParts(
        config=config,
        policy=policy,
        book=book,
        access=GatewayAccess(lambda: policy, rules, book, console_url=config.broker.console_url),
        sessions=sessions,
        link=link,
        upstream=gateway_upstream(config.kubernetes),
        id_tokens=oidc_verifier(config.oidc) if config.oidc else None,
        clock=clock or SystemClock(),
    )


def kube_client(settings: KubernetesConfig, *, field_manager: str) -> Client:
    """The Kubernetes client of the broker or the gateway: from ``kubernetes.kubeconfig``, else (in a pod) from
    the ServiceAccount in ``kubernetes.serviceAccountDir``."""
    return make_client(
        settings.kubeconfig, service_account_dir=settings.service_account_dir, field_manager=field_manager
    )


def gateway_upstream(settings: KubernetesConfig) -> Upstream:
    """kube-apiserver as the gateway's proxy leg reaches it, with the same credentials as :func:`kube_client`."""
    if settings.kubeconfig is not None:
        return upstream_from_kubeconfig(settings.kubeconfig)
    return upstream_in_cluster(settings.service_account_dir)


def _broker_trust(config: GatewayConfig) -> ssl.SSLContext | bool:
    """What the broker's TLS certificate is checked against: the configured CA file, else the system's CAs."""
    if config.broker.ca_file is None:
        return True
    try:
        return trust_context(cafile=config.broker.ca_file)
    except TrustError as error:
        raise InvalidInput(f"gateway config broker.caFile {config.broker.ca_file}: {error}") from None
