"""The audit repository on SQLAlchemy: events chained under the writers' lock inside the caller's transaction,
batches appended in one statement, and streamed reads for verification and export. A
:class:`~kubejit.adapters.store.sql.SqlUnitOfWork` makes one per transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from kubejit.adapters.store._rows import EVENTS_CHUNK, aware
from kubejit.adapters.store.schema import HEAD_ROW_ID, AuditEventRow, AuditHeadRow
from kubejit.domain.audit import AuditEntry, AuditEvent, JSONValue, canonical_json, chain_many, chain_next
from kubejit.domain.errors import Unavailable

if TYPE_CHECKING:
    from kubejit.adapters.store.sql import SqlUnitOfWork

_EVENT_COLUMNS = (
    AuditEventRow.seq,
    AuditEventRow.at,
    AuditEventRow.kind,
    AuditEventRow.actor,
    AuditEventRow.request_id,
    AuditEventRow.data,
    AuditEventRow.prev_hash,
    AuditEventRow.hash,
)


EventRow = Row[int, datetime, str, str, str, str, str, str]


def _event(row: EventRow) -> AuditEvent:
    seq, at, kind, actor, request_id, data, prev_hash, digest = row
    return AuditEvent(
        seq=seq,
        at=at,
        kind=kind,
        actor=actor,
        request_id=request_id,
        data=json.loads(data),
        prev_hash=prev_hash,
        hash=digest,
    )


class SqlAudit:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def append(
        self, *, kind: str, actor: str, at: datetime, request_id: str = "", data: dict[str, JSONValue] | None = None
    ) -> AuditEvent:
        connection = self._uow.writer()  # PostgreSQL: the audit_head row lock; SQLite: already the write lock
        previous = self._head(connection, lock=True)
        event = chain_next(previous, kind=kind, actor=actor, request_id=request_id, data=data, at=at)
        try:
            connection.execute(
                insert(AuditEventRow).values(
                    seq=event.seq,
                    at=event.at,
                    kind=event.kind,
                    actor=event.actor,
                    request_id=event.request_id,
                    data=canonical_json(event.data).decode(),
                    prev_hash=event.prev_hash,
                    hash=event.hash,
                )
            )
        except IntegrityError as exc:
            raise Unavailable(
                f"could not write audit event {event.seq}: the trail already has an event with that number"
            ) from exc
        connection.execute(
            update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ROW_ID).values(seq=event.seq, hash=event.hash)
        )
        return event

    def append_many(self, entries: Sequence[AuditEntry], *, at: datetime) -> list[AuditEvent]:
        if not entries:
            return []
        connection = self._uow.writer()
        events = chain_many(self._head(connection, lock=True), entries, at)
        rows = [
            {
                "seq": e.seq,
                "at": e.at,
                "kind": e.kind,
                "actor": e.actor,
                "request_id": e.request_id,
                "data": canonical_json(e.data).decode(),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in events
        ]
        try:
            connection.execute(insert(AuditEventRow), rows)
        except IntegrityError as exc:
            raise Unavailable(
                f"could not write audit events {events[0].seq}-{events[-1].seq}: the trail already has one of them"
            ) from exc
        last = events[-1]
        connection.execute(
            update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ROW_ID).values(seq=last.seq, hash=last.hash)
        )
        return events

    @staticmethod
    def _head(connection: Connection, *, lock: bool = False) -> AuditEvent | None:
        """The event the head row names, checked against it: appending after a head that lies would fork the chain."""
        query = select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == HEAD_ROW_ID)
        head = connection.execute(query.with_for_update() if lock else query).one_or_none()
        if head is None:
            raise Unavailable("the database has no audit head row: run the migrations (SqlStore.migrate)")
        head_seq, head_hash = head
        if not head_seq:
            return None
        row = connection.execute(select(*_EVENT_COLUMNS).where(AuditEventRow.seq == head_seq)).one_or_none()
        event = None if row is None else _event(row)
        if event is None or event.hash != head_hash:
            raise Unavailable(
                f"the audit trail's head names event {head_seq}, which is not stored as recorded: "
                "no event can be chained after it; run `kubejit audit verify`"
            )
        return event

    def events(self, *, after_seq: int = 0) -> Iterator[AuditEvent]:
        """Streams: rows arrive in chunks (a server-side cursor on PostgreSQL), never all at once."""
        query = select(*_EVENT_COLUMNS).where(AuditEventRow.seq > after_seq).order_by(AuditEventRow.seq)
        result = self._uow.connection().execute(query, execution_options={"yield_per": EVENTS_CHUNK})
        try:
            for row in result:
                yield _event(row)
        finally:
            result.close()

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
        """The first ``limit`` matching events in sequence order, read on from ``after_seq`` by the primary key."""
        query = select(*_EVENT_COLUMNS).order_by(AuditEventRow.seq).limit(max(limit, 0))
        if after_seq > 0:
            query = query.where(AuditEventRow.seq > after_seq)
        if kinds is not None:
            query = query.where(AuditEventRow.kind.in_(list(kinds)))
        if request_id is not None:
            query = query.where(AuditEventRow.request_id == request_id)
        if actor is not None:
            query = query.where(AuditEventRow.actor == actor)
        if since is not None:
            query = query.where(AuditEventRow.at >= aware(since, "since"))
        if request_ids is not None:
            query = query.where(AuditEventRow.request_id.in_(list(request_ids)))
        return [_event(row) for row in self._uow.connection().execute(query)]

    def head(self) -> AuditEvent | None:
        return self._head(self._uow.connection())
