"""How the broker is put together: :func:`build_broker` turns a :class:`~kubejit.config.BrokerConfig` into a
:class:`~kubejit.bootstrap.Broker`: storage (migrated, legacy rows sealed), the cluster adapters with the broker's
own least-privilege credentials, leader election, the audit checkpoint store, OIDC verification,
notifications, the policy (loaded and reviewed against the cluster: a policy with refused profiles does not
start), and the services and threads on top of them, nothing started.

Why it exists: this is the one place where the broker's concrete adapters are chosen. Called by ``kubejit serve``
(``entrypoints/cli/serve``) and the tests; ``kubejit audit checkpoint --init`` (``entrypoints/cli/audit_init``)
uses :func:`checkpoint_store` to pick the same checkpoint store the broker would.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from kubejit.adapters.clock import SystemClock
from kubejit.adapters.grant_tokens import GrantTokenSigner, load_or_create_key
from kubejit.adapters.kube.bindings import RbacBindings
from kubejit.adapters.kube.checkpoint import (
    ConfigMapCheckpoints,
    FileCheckpoints,
    generate_signing_key,
    load_signing_key,
)
from kubejit.adapters.kube.lease import LeaseElection
from kubejit.adapters.kube.role_rules import ClusterRoleRules
from kubejit.adapters.metrics import BrokerMetrics, KeeperView
from kubejit.adapters.no_bindings import NoBindings
from kubejit.adapters.notify import WebhookNotifier, WebhookTarget
from kubejit.adapters.policy_watch import content_digest
from kubejit.adapters.store.seals import load_or_create_seal_key
from kubejit.adapters.store.sql import SqlStore
from kubejit.bootstrap._broker import AuditSignal, Broker, _policy_facts
from kubejit.bootstrap._shared import kube_client, oidc_verifier, policy_for_issuers
from kubejit.config import BrokerConfig
from kubejit.domain.audit import AuditEvent, AuditKind
from kubejit.ports import CheckpointStore, Clock, Cluster, LeaderElection, Notification
from kubejit.services.access import AccessService
from kubejit.services.anomaly_watch import AnomalyWatch
from kubejit.services.audit import AuditService, Checkpointer
from kubejit.services.audit_replay import seal_explained_rows
from kubejit.services.authorization_webhook import AuthorizationWebhook
from kubejit.services.gateway_feed import GatewayFeed
from kubejit.services.keeper import GrantKeeper
from kubejit.services.policy_review import PolicyHolder
from kubejit.services.reconciler import GrantReconciler

if TYPE_CHECKING:
    from lightkube import Client

log = logging.getLogger("kubejit.broker")


class AlwaysLeader:
    """Leader election switched off: a single broker acts alone."""

    def is_leader(self) -> bool:
        return True


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
    watch.warm_up()  # the windows as they were before this start, from the recorded activity
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
