"""Checkpoints of the audit chain's head that never go backwards: written, checked, and started explicitly.

:class:`kubejit.services.audit.AuditService` delegates its checkpoint work here (its ``checkpoint``,
``verify`` and ``initial_checkpoint``), and :class:`~kubejit.services.audit.Checkpointer` opens the trail
through :meth:`CheckpointGuard.open_trail` when the broker is built.

The highest checkpoint seen is kept in three places: the store's own signed high-water record (see
:mod:`kubejit.adapters.kube.checkpoint`), this process's memory, and the checkpoint itself. A checkpoint is
never written below the highest, nor over a checkpoint that fell below it (an older one put back, or one
deleted); verification reports those as a rollback, and a checkpoint that leaves events older than
``max_age`` uncovered as stale. A first checkpoint over a trail that already has events is never signed by
the broker on its own (that is what deleting the checkpoint after truncating the trail would get): only a
process that saw the trail empty signs it, otherwise the operator runs ``kubejit audit checkpoint --init``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from kubejit.domain.audit import GENESIS_HASH, AuditEvent, Checkpoint, Problem, Tampering, timestamp, verify
from kubejit.domain.errors import Conflict, Refused
from kubejit.ports import CheckpointStore, Clock, UnitOfWork, UnitOfWorkFactory
from kubejit.services._streams import close_stream

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(minutes=10)
NEEDS_INIT = (
    "the audit trail holds events but there is no checkpoint of it (nor a high-water mark): either this "
    "installation is new to checkpoints, or the checkpoint was deleted, perhaps after events were removed from "
    "the end. kubejit does not sign such a trail on its own: check it (kubejit audit verify, your backups), then "
    "run `kubejit audit checkpoint --init --config FILE` once"
)


@dataclass(frozen=True)
class ExternalRecords:
    """What the checkpoint store holds, as far as it could be read, and the highest mark known."""

    checkpoint: Checkpoint | None
    highest: Checkpoint | None
    problems: tuple[Problem, ...] = ()


def event_at(uow: UnitOfWork, seq: int) -> AuditEvent | None:
    """The event numbered ``seq``, or None when the trail has none."""
    events = uow.audit.events(after_seq=seq - 1)
    try:
        first = next(iter(events), None)
    finally:
        close_stream(events)
    return first if first is not None and first.seq == seq else None


@dataclass
class CheckpointGuard:
    store: CheckpointStore
    uow: UnitOfWorkFactory
    clock: Clock
    max_age: timedelta = DEFAULT_MAX_AGE  # events older than this must be covered by the checkpoint
    began_empty: bool = False  # this process saw the trail empty: it may sign the first checkpoint
    _highest: Checkpoint | None = None  # the highest checkpoint this process has seen (memory)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, *records: Checkpoint | None) -> Checkpoint | None:
        """Raise the in-memory mark to the highest of ``records``; returns the mark."""
        with self._lock:
            for record in records:
                if record is not None and (self._highest is None or record.seq > self._highest.seq):
                    self._highest = record
            return self._highest

    # ---- opening and initialising ---------------------------------------------------------------------------

    def open_trail(self) -> None:
        """When the broker is built: sign the empty trail's genesis, or refuse a trail nobody checkpointed."""
        try:
            checkpoint, mark = self.store.records()
        except Refused as error:
            log.error("%s (kubejit audit verify reports it; no checkpoint is written over it)", error)
            return
        if self.remember(checkpoint, mark) is not None:
            return
        with self.uow(read_only=True) as uow:
            head = uow.audit.head()
        if head is None:
            self._save(Checkpoint(0, GENESIS_HASH, self.clock.now()))
        elif not self.began_empty:
            raise Refused(NEEDS_INIT)

    def initial_checkpoint(self) -> Checkpoint:
        """The operator's explicit first checkpoint over an existing trail, after checking that it holds together."""
        checkpoint, mark = self.store.records()
        existing = self.remember(checkpoint, mark)
        if existing is not None:
            raise Conflict(
                f"there is already an audit checkpoint (event {existing.seq}, signed {timestamp(existing.at)}): "
                "--init is only for a trail that has none; the broker keeps it up to date"
            )
        with self.uow(read_only=True) as uow:
            result = verify(uow.audit.events())
        if not result.ok:
            first = result.problems[0]
            raise Refused(
                f"the audit trail does not hold together ({len(result.problems)} problem(s); event {first.seq}: "
                f"{first.message}): investigate before signing it"
            )
        head = result.head
        first_checkpoint = Checkpoint(head.seq, head.hash, self.clock.now()) if head else None
        return self._save(first_checkpoint or Checkpoint(0, GENESIS_HASH, self.clock.now()))

    # ---- the checkpointer's pass ----------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """Record the current head; None when there is nothing new. Refused whenever saving would bless
        tampering: the checkpoint is missing or below the highest seen, or the chain lost the checkpointed event."""
        previous, mark = self.store.records()
        highest = self.remember(previous, mark)
        with self.uow(read_only=True) as uow:
            head = uow.audit.head()
            recorded = event_at(uow, highest.seq) if highest is not None and highest.seq else None
        if highest is None:
            if head is None:
                return None
            if not self.began_empty:
                raise Refused(NEEDS_INIT)
            return self._save(Checkpoint(head.seq, head.hash, self.clock.now()))
        if previous is None or previous.seq < highest.seq:
            raise Refused(
                f"the audit checkpoint is {'gone' if previous is None else f'at event {previous.seq}'}, below the "
                f"highest one written (event {highest.seq}): it was deleted or an older one was put back; "
                "refusing to write over it; run kubejit audit verify"
            )
        if head is not None and (head.seq, head.hash) == (previous.seq, previous.hash):
            return None
        if (
            head is None
            or head.seq < highest.seq
            or (highest.seq and (recorded is None or recorded.hash != highest.hash))
        ):
            raise Refused(
                f"the audit chain no longer contains event {highest.seq} as checkpointed: refusing to replace "
                "the checkpoint; run kubejit audit verify"
            )
        return self._save(Checkpoint(head.seq, head.hash, self.clock.now()))

    def _save(self, checkpoint: Checkpoint) -> Checkpoint:
        self.store.save(checkpoint)
        self.remember(checkpoint)
        return checkpoint

    # ---- verification ---------------------------------------------------------------------------------------

    def external(self) -> ExternalRecords:
        """The checkpoint and the highest mark known; a record whose signature fails becomes a problem."""
        problems: list[Problem] = []
        checkpoint = mark = None
        try:
            checkpoint = self.store.load()
        except Refused as error:
            problems.append(Problem(0, Tampering.CHECKPOINT_MISMATCH, str(error)))
        try:
            mark = self.store.high_water()
        except Refused as error:
            problems.append(Problem(0, Tampering.CHECKPOINT_MISMATCH, str(error)))
        return ExternalRecords(checkpoint, self.remember(checkpoint, mark), tuple(problems))

    def problems(self, uow: UnitOfWork, records: ExternalRecords, head: AuditEvent | None) -> list[Problem]:
        """Rollback (the checkpoint below the highest mark, and the trail against that mark) and staleness."""
        return [*self._rollback(uow, records, head), *self._staleness(uow, records.checkpoint, head)]

    def _rollback(self, uow: UnitOfWork, records: ExternalRecords, head: AuditEvent | None) -> list[Problem]:
        highest, checkpoint = records.highest, records.checkpoint
        if highest is None or (checkpoint is not None and checkpoint.seq >= highest.seq):
            return []
        shown = "is gone" if checkpoint is None else f"records event {checkpoint.seq}"
        found = [
            Problem(
                highest.seq,
                Tampering.ROLLBACK,
                f"the checkpoint {shown}, but one of event {highest.seq} was signed at {timestamp(highest.at)} "
                "(the high-water mark): it was deleted or an older checkpoint was put back",
            )
        ]
        recorded = event_at(uow, highest.seq) if highest.seq else None
        if highest.seq and recorded is None:
            last = head.seq if head else 0
            message = f"the high-water mark records event {highest.seq}, but the trail ends at event {last}"
            found.append(Problem(last, Tampering.TRUNCATED, message + ": events were removed from the end"))
        elif recorded is not None and recorded.hash != highest.hash:
            message = f"event {highest.seq} is not the event the high-water mark recorded: the trail was rewritten"
            found.append(Problem(highest.seq, Tampering.CHECKPOINT_MISMATCH, message))
        return found

    def _staleness(self, uow: UnitOfWork, checkpoint: Checkpoint | None, head: AuditEvent | None) -> list[Problem]:
        if checkpoint is None or head is None or head.seq <= checkpoint.seq:
            return []
        first = event_at(uow, checkpoint.seq + 1)
        now = self.clock.now()
        if first is None or now - first.at <= self.max_age:
            return []
        return [
            Problem(
                checkpoint.seq,
                Tampering.STALE_CHECKPOINT,
                f"the checkpoint was signed at {timestamp(checkpoint.at)} (event {checkpoint.seq}), but event "
                f"{first.seq} of {timestamp(first.at)} and {head.seq - checkpoint.seq - 1} more are not covered, "
                f"longer than the allowed {self.max_age}: checkpoints stopped being written (or were held back)",
            )
        ]
