"""The grant keeper's settings and its memory between passes, and the helpers every pass uses: the retry
backoff of a grant whose cluster call failed, one item of a stage handled without stopping the stage, a refused
row reported once per version, and the keeper's audit events.

Why it exists: the passes (``_activation``, ``_expiry``, ``_deadlines``, ``_unbinding``, ``_trust``) are mixins
over :class:`_KeeperState` and share these fields and helpers; :class:`~kubejit.services.reconciler.GrantReconciler`
(``_reconciler``) puts them together. Nothing else uses this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError
from kubejit.domain.policy import AccessPolicy
from kubejit.ports import (
    Clock,
    Cluster,
    LeaderElection,
    Notifier,
    Stored,
    UnitOfWork,
    UnitOfWorkFactory,
)
from kubejit.services.binding_sweep import BindingSweep
from kubejit.services.grant_trust import ChainEndings, RefusalLog
from kubejit.services.keeper_stats import KeeperObserver, KeeperStats, NoObserver

log = logging.getLogger("kubejit.services.reconciler")  # the name it had as one module
ACTOR = "kubejit"
MAX_BACKOFF = timedelta(seconds=60)


@dataclass
class _KeeperState:
    """What every pass of the keeper reads and remembers (the fields of :class:`GrantReconciler`)."""

    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    cluster: Cluster
    clock: Clock
    leader: LeaderElection
    notifier: Notifier
    poll_interval: timedelta = timedelta(seconds=0.5)  # the longest wait between passes; the backoff's unit
    sweep_interval: timedelta = timedelta(seconds=10)
    # How often every active grant is checked again (seal, policy, chain) and its end time written onto its
    # bindings: each lists all active grants, so not on every 250 ms pass (1,000 cost ~33 ms on SQLite).
    trust_interval: timedelta = timedelta(seconds=1)
    expiring_notice: timedelta = timedelta(minutes=5)
    on_audit: Callable[[], None] = lambda: None  # called after audit events were committed (checkpointing)
    replica: str = ""  # which broker replica acted, recorded in the keeper's audit events
    parallelism: int = 16  # concurrent cluster calls when many grants end at once
    batch: int = 50  # activations per pass
    stats: KeeperStats = field(default_factory=KeeperStats)
    observer: KeeperObserver = field(default_factory=NoObserver)  # time to approve, expiry lag (metrics)
    _next_sweep: datetime | None = None  # None: at the next pass
    _next_trust_check: datetime | None = None  # None: at the next pass
    _left_over: bool = False  # the last pass left approved requests for the next one
    _sweeper: BindingSweep = field(init=False)
    _warned: set[str] = field(default_factory=set)  # grants told they are about to end
    _ends_written: dict[str, object] = field(default_factory=dict)  # grant -> end time on its bindings
    _backoff: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # grant -> (failures, retry after)
    _refusals: RefusalLog = field(default_factory=lambda: RefusalLog("the grant keeper"))
    _trusted: dict[str, int] = field(default_factory=dict)  # active grant -> version found trustworthy (sealed)
    _trusted_under: object = None  # the policy those were checked under
    _endings: ChainEndings = field(default_factory=ChainEndings)  # requests the chain says have ended

    def __post_init__(self) -> None:
        self._sweeper = BindingSweep(self.uow, self.cluster, self.leader, self.stats, self._audit, self._guarded)

    def _guarded(self, what: str, action: Callable[[], object]) -> None:
        """Handle one item of a stage; a failure is logged and counted, and the stage goes on with the next."""
        try:
            action()
        except Exception:
            self.stats.failures += 1
            log.exception("grant keeper: %s failed; the rest of the pass goes on", what)

    # ---- retries -------------------------------------------------------------------------------------------------

    def _backing_off(self, grant_id: str) -> bool:
        entry = self._backoff.get(grant_id)
        return entry is not None and self.clock.now() < entry[1]

    def _failed(self, grant_id: str, kind: AuditKind, error: KubejitError, data: dict[str, object]) -> None:
        """Retry later with exponential backoff; audit the first failure of a run of failures only."""
        count = self._backoff[grant_id][0] + 1 if grant_id in self._backoff else 1
        self._backoff[grant_id] = (count, self.clock.now() + min(MAX_BACKOFF, self.poll_interval * 2**count))
        self.stats.failures += 1
        if count == 1:
            self._audit(kind, grant_id, {**data, "error": str(error), "retry": True})

    def _succeeded(self, grant_id: str) -> None:
        self._backoff.pop(grant_id, None)

    def _refuse(self, stored: Stored, problems: list[str], kind: AuditKind, data: dict[str, object]) -> None:
        """Report a row that must not become access: once per version (audit event, log line, count)."""
        if self._refusals.first(stored, problems):
            self.stats.refused += 1
            self._audit(kind, stored.request.id, {**data, "refused": problems, "version": stored.version})

    def _tag(self, data: dict[str, object]) -> dict[str, object]:
        return {**data, "replica": self.replica} if self.replica else data

    def _append(self, uow: UnitOfWork, kind: AuditKind, request_id: str, data: dict[str, object], at: datetime) -> None:
        uow.audit.append(kind=kind, actor=ACTOR, at=at, request_id=request_id, data=self._tag(data))

    def _audit(self, kind: AuditKind, request_id: str, data: dict[str, object]) -> None:
        """One event in a transaction of its own."""
        with self.uow() as uow:
            self._append(uow, kind, request_id, data, self.clock.now())
            uow.commit()
        self.on_audit()
