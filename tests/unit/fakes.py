"""Small in-memory fakes of the ports, for unit tests of the services (no database, no cluster)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from kubejit.domain.audit import AuditEntry, AuditEvent, Checkpoint, JSONValue, chain_many, chain_next
from kubejit.domain.errors import Conflict, NotFound, Refused, StaleWrite
from kubejit.domain.policy import IdentityMapping, Profile
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import BindingRef, Notification, Seal, Stored


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


@dataclass
class Database:
    """What the in-memory units of work share: committed state."""

    requests: dict[str, Stored] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    unbound: set[str] = field(default_factory=set)  # revoked grants whose bindings the keeper confirmed gone
    fail_audit: bool = False


class _Requests:
    def __init__(self, pending: dict[str, Stored], unbound: set[str] | None = None) -> None:
        self.pending = pending
        self.unbound = unbound if unbound is not None else set()

    def add(self, request: AccessRequest) -> Stored:
        if request.id in self.pending:
            raise Conflict(request.id)
        self.pending[request.id] = Stored(request, 1)
        return self.pending[request.id]

    def get(self, request_id: str) -> Stored:
        if request_id not in self.pending:
            raise NotFound(request_id)
        return self.pending[request_id]

    def update(self, request: AccessRequest, expected_version: int) -> Stored:
        current = self.get(request.id)
        if current.version != expected_version:
            raise StaleWrite(request.id)
        self.pending[request.id] = Stored(request, expected_version + 1)
        return self.pending[request.id]

    def find(
        self,
        *,
        states: Sequence[State] | None = None,
        requester: str | None = None,
        profiles: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[Stored]:
        found = [
            s
            for s in self.pending.values()
            if (states is None or s.request.state in states)
            and (requester is None or s.request.requester.user == requester)
            and (profiles is None or s.request.profile in profiles)
        ]
        return sorted(found, key=lambda s: s.request.created_at, reverse=True)[:limit]

    def with_id_prefix(self, prefix: str, *, after: str = "", limit: int = 100) -> list[Stored]:
        return [s for id_, s in sorted(self.pending.items()) if id_.startswith(prefix) and id_ > after][:limit]

    def ending_before(self, when: datetime) -> list[Stored]:
        due = [s for s in self.find(states=[State.ACTIVE]) if s.request.ends_at and s.request.ends_at <= when]
        return sorted(due, key=lambda s: s.request.ends_at or when)

    def next_end(self) -> datetime | None:
        ends = [s.request.ends_at for s in self.find(states=[State.ACTIVE]) if s.request.ends_at]
        return min(ends) if ends else None

    def every(self) -> Iterator[tuple[str, Stored | None]]:
        ordered = sorted(self.pending.values(), key=lambda s: (s.request.created_at, s.request.id))
        return iter([(s.request.id, s) for s in ordered])

    def unsealed(self) -> Iterator[Stored]:
        return iter([s for _, s in self.every() if s is not None and s.seal is Seal.MISSING])

    def seal_legacy(self, stored: Stored) -> bool:
        current = self.pending.get(stored.request.id)
        if current is None or current.version != stored.version or current.seal is not Seal.MISSING:
            return False
        self.pending[stored.request.id] = replace(current, seal=Seal.VALID)
        return True

    def awaiting_unbind(self, *, after: str = "", limit: int = 500) -> list[Stored]:
        waiting = [
            s
            for s in self.pending.values()
            if s.request.state is State.REVOKED
            and s.request.starts_at is not None
            and s.request.id not in self.unbound
            and s.request.id > after
        ]
        return sorted(waiting, key=lambda s: s.request.id)[:limit]

    def confirm_unbound(self, request_id: str) -> None:
        self.unbound.add(request_id)


class _Audit:
    def __init__(self, db: Database, pending: list[AuditEvent]) -> None:
        self.db = db
        self.pending = pending

    def append(
        self, *, kind: str, actor: str, at: datetime, request_id: str = "", data: dict[str, JSONValue] | None = None
    ) -> AuditEvent:
        if self.db.fail_audit:
            raise OSError("disk full")
        event = chain_next(
            self.pending[-1] if self.pending else None, kind=kind, actor=actor, request_id=request_id, data=data, at=at
        )
        self.pending.append(event)
        return event

    def append_many(self, entries: Sequence[AuditEntry], *, at: datetime) -> list[AuditEvent]:
        if self.db.fail_audit:
            raise OSError("disk full")
        events = chain_many(self.pending[-1] if self.pending else None, entries, at)
        self.pending.extend(events)
        return events

    def events(self, *, after_seq: int = 0) -> Iterator[AuditEvent]:
        return iter([e for e in self.pending if e.seq > after_seq])

    def query(
        self,
        *,
        request_id: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        request_ids: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        return [
            e
            for e in self.pending
            if (request_id is None or e.request_id == request_id)
            and (actor is None or e.actor == actor)
            and (since is None or e.at >= since)
            and (request_ids is None or e.request_id in request_ids)
            and (kinds is None or e.kind in kinds)
            and e.seq > after_seq
        ][:limit]

    def head(self) -> AuditEvent | None:
        return self.pending[-1] if self.pending else None


class _Keys:
    def __init__(self, pending: dict[tuple[str, str], str]) -> None:
        self.pending = pending

    def remembered(self, user: str, key: str) -> str | None:
        return self.pending.get((user, key))

    def remember(self, user: str, key: str, request_id: str, at: datetime) -> None:
        self.pending[(user, key)] = request_id

    def activity_mark(self, instance: str) -> int:
        return int(self.pending.get(("activity-mark", instance), "0"))

    def set_activity_mark(self, instance: str, seq: int, at: datetime) -> None:
        self.pending[("activity-mark", instance)] = str(seq)
        self.pending[("activity-heard", instance)] = at.isoformat()

    def last_heard(self, instances: Sequence[str]) -> dict[str, datetime]:
        found = {i: self.pending.get(("activity-heard", i)) for i in instances}
        return {i: datetime.fromisoformat(at) for i, at in found.items() if at is not None}


class FakeUnitOfWork:
    """Copies the committed state, works on the copy, publishes it on commit."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._requests = dict(db.requests)
        self._audit = list(db.audit)
        self._keys = dict(db.keys)
        self._unbound = set(db.unbound)
        self.requests = _Requests(self._requests, self._unbound)
        self.audit = _Audit(db, self._audit)
        self.idempotency = _Keys(self._keys)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def commit(self) -> None:
        self.db.requests = self._requests
        self.db.audit = self._audit
        self.db.keys = self._keys
        self.db.unbound = self._unbound


class FakeStore:
    def __init__(self) -> None:
        self.db = Database()

    def __call__(self, *, read_only: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.db.audit]


@dataclass
class FakeCluster:
    bindings: dict[str, list[BindingRef]] = field(default_factory=dict)
    fail_bind: Exception | None = None
    calls: list[str] = field(default_factory=list)
    refuse_delete: set[str] = field(default_factory=set)  # binding names whose deletion the "API" refuses

    def bind(
        self, request: AccessRequest, profile: Profile, identity: IdentityMapping, ends_at: datetime
    ) -> list[BindingRef]:
        self.calls.append(f"bind {request.id}")
        if self.fail_bind is not None:
            raise self.fail_bind
        refs = [
            BindingRef(request.id, "RoleBinding", f"kubejit-{request.id}", ns, ends_at) for ns in request.namespaces
        ]
        self.bindings[request.id] = refs
        return refs

    def set_end(self, grant_id: str, ends_at: datetime, namespaces: Sequence[str] | None = None) -> None:
        self.calls.append(f"set_end {grant_id}")

    def unbind(self, grant_id: str, namespaces: Sequence[str] | None = None) -> list[BindingRef]:
        self.calls.append(f"unbind {grant_id}")
        return self.bindings.pop(grant_id, [])

    def managed_bindings(self) -> list[BindingRef]:
        return [ref for refs in self.bindings.values() for ref in refs]

    def delete_binding(self, ref: BindingRef) -> bool:
        self.calls.append(f"delete {ref.kind} {ref.namespace}/{ref.name}")
        if ref.name in self.refuse_delete:
            raise Refused(f"deleting {ref.name} is forbidden")
        refs = self.bindings.get(ref.grant_id, [])
        if ref not in refs:
            return False
        refs.remove(ref)
        if not refs:
            del self.bindings[ref.grant_id]
        return True


@dataclass
class FakeLeader:
    leading: bool = True

    def is_leader(self) -> bool:
        return self.leading


@dataclass
class RecordingNotifier:
    sent: list[Notification] = field(default_factory=list)

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)

    def events(self) -> list[str]:
        return [n.event for n in self.sent]


@dataclass
class MemoryCheckpoints:
    """A checkpoint store in memory; like the real ones it keeps a high-water mark and refuses to go below it."""

    saved: Checkpoint | None = None
    mark: Checkpoint | None = None

    def save(self, checkpoint: Checkpoint) -> None:
        if self.mark is not None and checkpoint.seq < self.mark.seq:
            raise Refused(f"refusing to save an audit checkpoint of event {checkpoint.seq}: below {self.mark.seq}")
        self.saved = checkpoint
        self.mark = checkpoint

    def load(self) -> Checkpoint | None:
        return self.saved

    def high_water(self) -> Checkpoint | None:
        return self.mark

    def records(self) -> tuple[Checkpoint | None, Checkpoint | None]:
        return self.saved, self.mark
