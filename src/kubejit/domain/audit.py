"""The audit trail as evidence: events in a canonical form, chained by SHA-256, and their verification.

Every state change kubejit makes is an :class:`AuditEvent`. Each event carries the hash of the one before it,
computed over a canonical JSON form (sorted keys, no whitespace, UTF-8, timestamps in UTC with microseconds),
so editing, deleting, inserting or reordering any event breaks the chain at that point. Truncating the tail
leaves a shorter chain that is still consistent; it is caught by comparing with a :class:`Checkpoint` of the
chain head kept outside the database. :func:`verify` reports every problem it finds, by sequence number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64

JSONValue = Any  # JSON-compatible: str, int, float, bool, None, lists and string-keyed mappings of these


class AuditKind(StrEnum):
    """What an audit event records. The values are stored, hashed into the chain and read by people and
    scripts (``kubejit audit -o json``): they never change; new kinds get new values."""

    # requests: submitted, reviewed, ended before they were granted
    REQUEST_SUBMITTED = "request.submitted"
    REQUEST_AUTO_APPROVED = "request.auto-approved"
    REQUEST_BREAK_GLASS = "request.break-glass"
    REQUEST_APPROVED = "request.approved"
    REQUEST_DENIED = "request.denied"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_QUORUM_REACHED = "request.quorum-reached"
    REQUEST_TIMED_OUT = "request.timed-out"
    OPERATION_REFUSED = "operation.refused"  # a review, revoke or extension that the policy refused
    # grants: the keeper's work and what people do to a running grant
    GRANT_ACTIVATED = "grant.activated"
    GRANT_ACTIVATION_FAILED = "grant.activation-failed"
    GRANT_EXPIRED = "grant.expired"
    GRANT_EXPIRY_FAILED = "grant.expiry-failed"
    GRANT_REVOKED = "grant.revoked"
    GRANT_UNBIND_FAILED = "grant.unbind-failed"
    GRANT_REBIND_FAILED = "grant.rebind-failed"
    GRANT_EXTENSION_REQUESTED = "grant.extension-requested"
    GRANT_EXTENSION_APPROVED = "grant.extension-approved"
    GRANT_EXTENSION_DENIED = "grant.extension-denied"
    GRANT_BREAK_GLASS_REVIEWED = "grant.break-glass-reviewed"
    # the RBAC bindings kubejit manages in the cluster
    BINDING_CREATED = "binding.created"
    BINDING_DELETED = "binding.deleted"
    BINDING_SWEPT = "binding.swept"
    BINDING_UNRECOGNIZED = "binding.unrecognized"  # labelled as this installation's, but no grant's: removed
    BINDING_SWEEP_FAILED = "binding.sweep-failed"  # one binding the sweep could not remove (the rest were)
    # the broker itself
    POLICY_LOADED = "policy.loaded"
    POLICY_RELOAD_FAILED = "policy.reload-failed"
    NOTIFICATION_FAILED = "notification.failed"
    # what people did through the gateway (sent to the broker in batches)
    ACTIVITY_REQUEST = "activity.request"
    ACTIVITY_REFUSED = "activity.refused"
    ACTIVITY_EXEC = "activity.exec"
    ACTIVITY_SESSION_CLOSED = "activity.session-closed"
    # what the broker concluded from that activity (services/anomaly_watch)
    ALERT_RAISED = "alert.raised"

    @property
    def is_activity(self) -> bool:
        """Recorded by a gateway: the only kinds a gateway may send."""
        return self.value.startswith("activity.")


def timestamp(at: datetime) -> str:
    """The canonical text of a time: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the trail. ``seq`` starts at 1 and has no gaps."""

    seq: int
    at: datetime
    kind: str  # an AuditKind's value (a plain string: trails may hold kinds this version does not know)
    actor: str  # the user, or "kubejit" for the broker's own actions
    request_id: str  # "" when the event is not about one request
    data: Mapping[str, JSONValue] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def body(self) -> dict[str, JSONValue]:
        """Everything the hash covers."""
        return {
            "seq": self.seq,
            "at": timestamp(self.at),
            "kind": self.kind,
            "actor": self.actor,
            "request_id": self.request_id,
            "data": self.data,
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.body())).hexdigest()

    def to_json(self) -> dict[str, JSONValue]:
        return {**self.body(), "hash": self.hash}


def canonical_json(value: JSONValue) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def chain_next(
    previous: AuditEvent | None,
    *,
    kind: str,
    actor: str,
    request_id: str = "",
    data: Mapping[str, JSONValue] | None = None,
    at: datetime,
) -> AuditEvent:
    """The event that follows ``previous`` (or starts the chain), with its hash filled in."""
    event = AuditEvent(
        seq=(previous.seq + 1) if previous else 1,
        at=at,
        kind=str(kind),  # stored and hashed as its plain value, also when given an AuditKind
        actor=actor,
        request_id=request_id,
        data=dict(data or {}),
        prev_hash=previous.hash if previous else GENESIS_HASH,
    )
    canonical_json(event.data)  # refuse data that has no canonical form now, not at verification time
    return replace(event, hash=event.computed_hash())


@dataclass(frozen=True)
class AuditEntry:
    """An event to append, before the chain gives it a number and a hash."""

    kind: str
    actor: str
    request_id: str = ""
    data: Mapping[str, JSONValue] = field(default_factory=dict)


def chain_many(previous: AuditEvent | None, entries: Iterable[AuditEntry], at: datetime) -> list[AuditEvent]:
    """The events that follow ``previous``, in order, each chained to the one before it."""
    chained: list[AuditEvent] = []
    for entry in entries:
        previous = chain_next(
            previous, kind=entry.kind, actor=entry.actor, request_id=entry.request_id, data=entry.data, at=at
        )
        chained.append(previous)
    return chained


@dataclass(frozen=True)
class Checkpoint:
    """The chain head as seen at some moment, stored outside the database (and signed by the adapter)."""

    seq: int
    hash: str
    at: datetime


class Tampering(StrEnum):
    EDITED = "edited"  # an event's content no longer matches its hash
    BROKEN_LINK = "broken-link"  # prev_hash differs from the previous event's hash: deleted, inserted or reordered
    GAP = "gap"  # a sequence number is missing or repeated: deleted, inserted or reordered
    TRUNCATED = "truncated"  # the chain is shorter than the checkpoint says
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"  # the event at the checkpoint's seq is not the one checkpointed
    STALE_CHECKPOINT = "stale-checkpoint"  # events older than the allowed age are not covered by the checkpoint
    ROLLBACK = "rollback"  # the checkpoint is below the high-water mark: an older checkpoint was put back


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: Tampering
    message: str


@dataclass(frozen=True)
class Verification:
    events: int
    head: AuditEvent | None
    problems: tuple[Problem, ...]
    checkpoint: Checkpoint | None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(events: Iterable[AuditEvent], checkpoint: Checkpoint | None = None) -> Verification:
    """Walk the chain in storage order and report every place it does not hold together."""
    problems: list[Problem] = []
    previous: AuditEvent | None = None
    count = 0
    at_checkpoint: AuditEvent | None = None
    for event in events:
        count += 1
        expected_seq = previous.seq + 1 if previous else 1
        if event.seq != expected_seq:
            problems.append(
                Problem(
                    event.seq,
                    Tampering.GAP,
                    f"event {event.seq} follows event {expected_seq - 1}: events were deleted, inserted or reordered",
                )
            )
        if event.computed_hash() != event.hash:
            problems.append(Problem(event.seq, Tampering.EDITED, f"event {event.seq} was changed after it was written"))
        expected_prev = previous.hash if previous else GENESIS_HASH
        if event.prev_hash != expected_prev:
            problems.append(
                Problem(event.seq, Tampering.BROKEN_LINK, f"event {event.seq} does not chain to the event before it")
            )
        if checkpoint is not None and event.seq == checkpoint.seq:
            at_checkpoint = event
        previous = event
    if checkpoint is not None:
        problems.extend(_against_checkpoint(checkpoint, at_checkpoint, previous))
    return Verification(count, previous, tuple(problems), checkpoint)


def _against_checkpoint(
    checkpoint: Checkpoint, at_checkpoint: AuditEvent | None, head: AuditEvent | None
) -> list[Problem]:
    """What the chain's event at the checkpoint's seq says about the checkpoint (seq 0: the empty chain)."""
    if checkpoint.seq == 0:
        if checkpoint.hash == GENESIS_HASH:
            return []
        return [Problem(0, Tampering.CHECKPOINT_MISMATCH, "the checkpoint of the empty trail names a hash")]
    if at_checkpoint is None:
        last = head.seq if head else 0
        return [
            Problem(
                last,
                Tampering.TRUNCATED,
                f"the checkpoint of {timestamp(checkpoint.at)} records event "
                f"{checkpoint.seq}, but the trail ends at event {last}: events were removed from the end",
            )
        ]
    if at_checkpoint.hash != checkpoint.hash:
        return [
            Problem(
                checkpoint.seq,
                Tampering.CHECKPOINT_MISMATCH,
                f"event {checkpoint.seq} is not the event the checkpoint recorded: the trail was rewritten",
            )
        ]
    return []
