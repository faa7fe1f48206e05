"""The running broker: :class:`Broker` holds its wired parts, starts and stops their background work, answers
readiness, and reloads the policy (SIGHUP or the file watch); :class:`AuditSignal` tells everyone listening that
audit events were just committed.

Why it exists: the broker's entrypoints (the API app, the console, ``kubejit serve``) hold one :class:`Broker`
and call only these methods; how it is put together is ``_broker_wiring`` (:func:`build_broker`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubejit.adapters.idp import OidcVerifier
from kubejit.adapters.kube.lease import LeaseElection
from kubejit.adapters.metrics import BrokerMetrics
from kubejit.adapters.notify import WebhookNotifier
from kubejit.adapters.policy_watch import PolicyFileWatcher, content_digest
from kubejit.adapters.store.sql import SqlStore
from kubejit.config import BrokerConfig
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError
from kubejit.ports import Clock, LeaderElection
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService, Checkpointer
from kubejit.services.authorization_webhook import AuthorizationWebhook
from kubejit.services.gateway_feed import GatewayFeed
from kubejit.services.keeper import GrantKeeper
from kubejit.services.policy_review import PolicyHolder

log = logging.getLogger("kubejit.broker")


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
