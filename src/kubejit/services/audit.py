"""Use cases on the audit trail: read it (within what each person may see), verify it, checkpoint its head.

Auditors and admins read everything and run verification; everyone else sees the events of their own
requests. The chain head is checkpointed outside the database (signed) shortly after it moves, so that
removing events from the end of the trail is detected too; checkpoints never go backwards and a first one over
an existing trail is the operator's step (:mod:`kubejit.services.audit_checkpoints`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from kubejit.domain.audit import AuditEvent, Checkpoint, Problem, Tampering, Verification, verify
from kubejit.domain.errors import InvalidInput, KubejitError, Refused
from kubejit.domain.policy import AccessPolicy, Identity
from kubejit.ports import CheckpointStore, Clock, LeaderElection, UnitOfWorkFactory
from kubejit.services._background import BackgroundThread
from kubejit.services.audit_checkpoints import DEFAULT_MAX_AGE, CheckpointGuard, ExternalRecords
from kubejit.services.audit_replay import Story, folding, verification_problems

log = logging.getLogger(__name__)


@dataclass
class AuditService:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    checkpoints: CheckpointStore | None = None
    checkpoint_max_age: timedelta = DEFAULT_MAX_AGE  # verify reports events left uncovered longer than this
    guard: CheckpointGuard | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Notes whether the trail is empty now, when the broker is built: only then may this process sign a
        first checkpoint on its own."""
        if self.checkpoints is None:
            return
        try:
            with self.uow(read_only=True) as uow:
                began_empty = uow.audit.head() is None
        except KubejitError:
            began_empty = False
        self.guard = CheckpointGuard(self.checkpoints, self.uow, self.clock, self.checkpoint_max_age, began_empty)

    def may_read_all(self, who: Identity) -> bool:
        policy = self.policy()
        return policy.auditors.includes(who) or policy.admins.includes(who)

    def query(
        self,
        who: Identity,
        *,
        request_id: str | None = None,
        user: str | None = None,
        since: datetime | None = None,
        kinds: Collection[str] = (),
        after: int = 0,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """The first ``limit`` events matching the filters that ``who`` may see, in chain order; ``after`` pages
        on (the last ``seq`` of the previous page), ``kinds`` keeps only those kinds."""
        with self.uow(read_only=True) as uow:
            request_ids: list[str] | None = None
            if not self.may_read_all(who):
                request_ids = [s.request.id for s in uow.requests.find(requester=who.user, limit=10_000)]
                if request_id is not None:
                    request_ids = [r for r in request_ids if r == request_id]
                if not request_ids:
                    return []
                request_id = None
            return uow.audit.query(  # every filter in the store's query: nothing is read to be left out here
                request_id=request_id,
                request_ids=request_ids,
                actor=user,
                since=since,
                kinds=sorted(kinds) or None,
                after_seq=max(after, 0),
                limit=limit,
            )

    def export(self, who: Identity, page: int = 1000) -> Iterator[AuditEvent]:
        """The whole trail, for auditors and admins, read a page per transaction (safe to stream slowly)."""
        self._require_auditor(who, "export the audit trail")
        after = 0
        while True:
            with self.uow(read_only=True) as uow:
                events = list(islice(uow.audit.events(after_seq=after), page))
            yield from events
            if len(events) < page:
                return
            after = events[-1].seq

    def verify(self, who: Identity) -> Verification:
        """Check the whole chain and compare its head with the signed checkpoint kept outside the database, and
        the checkpoint with the highest one ever written (rollback) and with the events' age (staleness)."""
        self._require_auditor(who, "verify the audit trail")
        records = self.guard.external() if self.guard is not None else ExternalRecords(None, None)
        checkpoint = records.checkpoint
        problems: list[Problem] = list(records.problems)
        with self.uow(read_only=True) as uow:
            told: dict[str, Story] = {}  # each request's story, folded while the chain is verified: one read
            result = verify(folding(uow.audit.events(), told), checkpoint)
            rows = verification_problems(uow, told) if result.ok else []  # rows against a broken chain: fix it first
            if self.guard is not None:
                problems.extend(self.guard.problems(uow, records, result.head))
        if self.checkpoints is not None and checkpoint is None and result.events and not records.problems:
            problems.insert(
                0,
                Problem(
                    0,
                    Tampering.TRUNCATED,
                    "there is no checkpoint of the chain head: whether events were removed from the end cannot be told",
                ),
            )
        return Verification(result.events, result.head, (*problems, *result.problems, *rows), checkpoint)

    def checkpoint(self) -> Checkpoint | None:
        """Record the current head outside the database; returns it (None when there is nothing new).

        A new checkpoint never replaces one the chain no longer agrees with, nor one that fell below the highest
        written: if the event the last checkpoint recorded is gone or changed, or the head moved backwards, or
        the checkpoint was deleted or an older one put back, saving would bless the tampering, so the checkpoint
        is refused (and verification keeps reporting the problem).
        """
        return self.guard.checkpoint() if self.guard is not None else None

    def initial_checkpoint(self) -> Checkpoint:
        """The operator's first checkpoint over a trail that has events but none (``kubejit audit checkpoint
        --init``): signed only when the chain holds together and no checkpoint exists."""
        if self.guard is None:
            raise InvalidInput("no audit checkpoint store is configured (audit.checkpointConfigMap or checkpointFile)")
        return self.guard.initial_checkpoint()

    def open_trail(self) -> None:
        """When the broker is built: refuse (Refused) a trail with events but no checkpoint, unless it was
        empty when this process started; sign the empty trail's genesis."""
        if self.guard is not None:
            self.guard.open_trail()

    def _require_auditor(self, who: Identity, action: str) -> None:
        if not self.may_read_all(who):
            raise Refused(f"only auditors and admins may {action}")


@dataclass
class Checkpointer:
    """Saves a checkpoint shortly after the chain moves (debounced), on the leader only."""

    audit: AuditService
    leader: LeaderElection
    delay: timedelta = timedelta(seconds=0.5)
    period: timedelta = timedelta(seconds=5)
    errors: int = 0
    # The last pass's verdict (metrics): False when it refused to checkpoint because the chain no longer agrees
    # with the signed checkpoint (or has none); None before any pass, on a standby, or with no checkpoint store.
    chain_ok: bool | None = None
    checked_at: datetime | None = None
    _thread: BackgroundThread = field(init=False)

    def __post_init__(self) -> None:
        """Opening the trail is part of building the broker: one whose trail cannot be checkpointed without an
        operator's decision does not start (see :meth:`AuditService.open_trail`)."""
        self.audit.open_trail()
        self._thread = BackgroundThread("audit-checkpointer", self._run)

    def moved(self) -> None:
        self._thread.wake()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._thread.stop(timeout)
        self.flush()

    def flush(self) -> None:
        if self.leader.is_leader():
            try:
                self.audit.checkpoint()
            except Exception as error:
                self.errors += 1
                self._thread.wake()
                if isinstance(error, Refused):
                    self._verdict(ok=False)
            else:
                self._verdict(ok=True)

    def _verdict(self, *, ok: bool) -> None:
        if self.audit.guard is not None:
            self.chain_ok, self.checked_at = ok, self.audit.clock.now()

    def _run(self) -> None:
        dirty, stopping = self._thread.woken, self._thread.stopping
        while not stopping.is_set():
            # Also on a timer: events written on standby replicas do not reach this process's moved().
            dirty.wait(self.period.total_seconds())
            if stopping.is_set():
                return
            stopping.wait(self.delay.total_seconds())
            dirty.clear()
            self.flush()
