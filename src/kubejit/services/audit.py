"""Use cases on the audit trail: read it (within what each person may see), verify it, checkpoint its head.

Auditors and admins read everything and run verification; everyone else sees the events of their own
requests. The chain head is checkpointed outside the database (signed) shortly after it moves, so that
removing events from the end of the trail is detected too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from kubejit.domain.audit import AuditEvent, Checkpoint, Problem, Tampering, Verification, verify
from kubejit.domain.errors import Refused
from kubejit.domain.policy import AccessPolicy, Identity
from kubejit.ports import CheckpointStore, Clock, LeaderElection, UnitOfWorkFactory
from kubejit.services._background import BackgroundThread
from kubejit.services.audit_replay import verification_problems

log = logging.getLogger(__name__)


@dataclass
class AuditService:
    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    checkpoints: CheckpointStore | None = None

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
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Events matching the filters that ``who`` may see, in chain order."""
        with self.uow(read_only=True) as uow:
            if self.may_read_all(who):
                return uow.audit.query(request_id=request_id, actor=user, since=since, limit=limit)
            own = [s.request.id for s in uow.requests.find(requester=who.user, limit=10_000)]
            if request_id is not None:
                own = [r for r in own if r == request_id]
            if not own:
                return []
            return uow.audit.query(request_ids=own, actor=user, since=since, limit=limit)

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
        """Check the whole chain and compare its head with the signed checkpoint kept outside the database."""
        self._require_auditor(who, "verify the audit trail")
        checkpoint: Checkpoint | None = None
        problems: list[Problem] = []
        if self.checkpoints is not None:
            try:
                checkpoint = self.checkpoints.load()
            except Refused as error:
                problems.append(Problem(0, Tampering.CHECKPOINT_MISMATCH, str(error)))
        with self.uow(read_only=True) as uow:
            result = verify(uow.audit.events(), checkpoint)
            rows = verification_problems(uow) if result.ok else []  # rows against a broken chain: fix it first
        if self.checkpoints is not None and checkpoint is None and result.events and not problems:
            problems.append(
                Problem(
                    0,
                    Tampering.TRUNCATED,
                    "there is no checkpoint of the chain head: whether events were removed from the end cannot be told",
                )
            )
        return Verification(result.events, result.head, (*problems, *result.problems, *rows), checkpoint)

    def checkpoint(self) -> Checkpoint | None:
        """Record the current head outside the database; returns it (None when there is nothing new).

        A new checkpoint never replaces one the chain no longer agrees with: if the event the last checkpoint
        recorded is gone or changed, or the head moved backwards, saving would bless the tampering, so the
        checkpoint is refused (and verification keeps reporting the problem).
        """
        if self.checkpoints is None:
            return None
        previous = self.checkpoints.load()
        with self.uow(read_only=True) as uow:
            head = uow.audit.head()
            recorded = None
            if previous is not None:
                recorded = next(iter(uow.audit.events(after_seq=previous.seq - 1)), None)
        if head is None or (previous is not None and previous.seq == head.seq and previous.hash == head.hash):
            return None
        if previous is not None and (
            head.seq < previous.seq
            or recorded is None
            or recorded.seq != previous.seq
            or recorded.hash != previous.hash
        ):
            raise Refused(
                f"the audit chain no longer contains event {previous.seq} as checkpointed: refusing to replace "
                "the checkpoint; run kubejit audit verify"
            )
        checkpoint = Checkpoint(head.seq, head.hash, self.clock.now())
        self.checkpoints.save(checkpoint)
        return checkpoint

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
    _thread: BackgroundThread = field(init=False)

    def __post_init__(self) -> None:
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
            except Exception:
                self.errors += 1
                self._thread.wake()

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
