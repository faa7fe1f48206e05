"""The broker's storage: the :mod:`kubejit.ports` storage Protocols on SQLAlchemy, for SQLite and PostgreSQL.

:mod:`kubejit.bootstrap` builds one :class:`SqlStore` from the configured URL, calls :meth:`SqlStore.migrate`,
and hands it to the services as their ``UnitOfWorkFactory``. Each unit of work is one database transaction:
a state change and its audit event commit together or not at all.

Concurrency is the same on both databases, by different means:

- **Requests** are updated optimistically: ``UPDATE ... WHERE id = :id AND version = :expected``. Whoever
  writes second finds no row at the version it read and gets :class:`StaleWrite`, so two approvers racing
  produce exactly one transition.
- **Writers are serialized.** On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (SQLite's
  single write lock, taken up front: concurrent writers wait up to ``busy_timeout`` instead of failing when
  their read snapshot turns out stale). On PostgreSQL (READ COMMITTED) the first write of a unit of work locks
  the ``audit_head`` row (``SELECT ... FOR UPDATE``) and holds it to commit. Every writer takes that lock before
  any row lock, so writers cannot deadlock, and audit events get gap-free sequence numbers in commit order.
  Readers are never blocked on either database (SQLite runs in WAL mode).
- **Audit appends** read the head under that lock, chain the next event with
  :func:`kubejit.domain.audit.chain_next`, insert it and move the head, inside the caller's transaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    case,
    create_engine,
    event,
    exists,
    false,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from kubejit.adapters.store import documents
from kubejit.adapters.store.schema import (
    HEAD_ROW_ID,
    ActivityMarkRow,
    AuditEventRow,
    AuditHeadRow,
    IdempotencyKeyRow,
    RequestRow,
)
from kubejit.adapters.store.seals import RequestSealer
from kubejit.domain.audit import AuditEntry, AuditEvent, JSONValue, canonical_json, chain_many, chain_next
from kubejit.domain.errors import Conflict, InvalidInput, NotFound, StaleWrite, Unavailable
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import AuditRepository, IdempotencyRepository, RequestRepository, Seal, Stored

MIGRATIONS = "kubejit.adapters.store:migrations"
VERSION_TABLE = "kubejit_alembic_version"
# Held while migrating, so that replicas starting together on one PostgreSQL database take turns.
MIGRATION_LOCK_KEY = 0x6B75_6265_6A69_74  # "kubejit"
EVENTS_CHUNK = 500

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


class SqlStore:
    """A database for the broker; calling it opens a :class:`SqlUnitOfWork`.

    ``url`` is an SQLAlchemy URL: ``sqlite:////var/lib/kubejit/kubejit.db`` (the default kind) or
    ``postgresql+psycopg://user:password@host:5432/db`` (for several broker replicas). ``busy_timeout`` is
    how long an SQLite writer waits for another one to finish before giving up, in seconds. ``seal_key`` seals
    every request row written (:mod:`kubejit.adapters.store.seals`); without one, rows are written unsealed and
    every row reads as unsealed, so nothing read from such a store becomes access.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0, seal_key: bytes | None = None) -> None:
        self.sealer = RequestSealer(seal_key) if seal_key is not None else None
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidInput(
                "the database URL is not valid: use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
            ) from None
        self.url: URL = parsed
        self.backend = parsed.get_backend_name()
        driver = parsed.get_driver_name()
        if self.backend == "sqlite" and driver == "pysqlite":
            _create_private(parsed.database)
            self._engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
            _sqlite_transactions(self._engine, busy_timeout)
            self._reader = self._engine.execution_options(kubejit_read_only=True)
        elif self.backend == "postgresql" and driver == "psycopg":
            self._engine = create_engine(parsed, isolation_level="READ COMMITTED", pool_pre_ping=True)
            self._reader = self._engine.execution_options(postgresql_readonly=True)
        else:
            raise InvalidInput(
                f"kubejit cannot store into {self.safe_url}: use sqlite:///PATH (the default) "
                "or postgresql+psycopg://USER@HOST:PORT/DB"
            )

    @property
    def safe_url(self) -> str:
        """The URL with its password masked: the only form that may appear in logs and messages."""
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SqlStore({self.safe_url!r})"

    def migrate(self) -> None:
        """Bring the schema to the newest revision shipped with this kubejit; does nothing when it is there."""
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        try:
            with self._engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE, so migrations take turns too
                if self.backend == "postgresql":
                    connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
                config.attributes["connection"] = connection
                config.attributes["version_table"] = VERSION_TABLE
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise self.unavailable("could not migrate", exc) from exc

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        """A new unit of work. ``read_only`` ones never wait for writers (nor make them wait) and refuse writes."""
        return SqlUnitOfWork(self, self._reader if read_only else self._engine, read_only=read_only)

    def unavailable(self, doing: str, exc: OperationalError) -> Unavailable:
        """The error for a database that failed us: the driver's first line, never the password."""
        lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
        reason = lines[0] if lines else type(exc).__name__
        if self.url.password:
            reason = reason.replace(str(self.url.password), "***")
        return Unavailable(f"{doing} the database at {self.safe_url}: {reason}")

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, and in tests)."""
        self._engine.dispose()


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600) before SQLite does (it would follow the umask);
    SQLite gives its -wal and -shm files the database file's mode. An existing file is left as it is."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    except OSError as error:
        raise InvalidInput(f"cannot create the database file {path}: {error.strerror}") from error


def _sqlite_transactions(engine: Engine, busy_timeout: float) -> None:
    """Make SQLite transactions real (SQLAlchemy's recipe for pysqlite), immediate for writers, in WAL mode."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # pysqlite: we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # synchronous stays FULL (the default): a committed audit event survives a power cut too, so an
            # external checkpoint never names an event that the database then lacks.
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get("kubejit_read_only", False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


class SqlUnitOfWork:
    """One transaction, used once: ``with store() as uow: ...; uow.commit()``; leaving without commit rolls back."""

    def __init__(self, store: SqlStore, engine: Engine, *, read_only: bool) -> None:
        self._store = store
        self._engine = engine
        self.read_only = read_only
        self.sealer = store.sealer
        self._connection: Connection | None = None
        self._used = False
        self._write_locked = False
        self.requests: RequestRepository = SqlRequests(self)
        self.audit: AuditRepository = SqlAudit(self)
        self.idempotency: IdempotencyRepository = SqlIdempotency(self)

    def __enter__(self) -> Self:
        if self._used:
            raise RuntimeError("a unit of work is used once: ask the factory for a new one")
        self._used = True
        try:
            connection = self._engine.connect()
        except OperationalError as exc:
            raise self._store.unavailable("cannot reach", exc) from exc
        try:
            connection.begin()  # SQLite writers: BEGIN IMMEDIATE, waits for the write lock here
        except OperationalError as exc:
            connection.close()
            raise self._store.unavailable("could not start a transaction in", exc) from exc
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            transaction = connection.get_transaction()
            if transaction is not None and transaction.is_active:
                transaction.rollback()
        except Exception:
            if exc is None:
                raise  # otherwise the caller's own exception says more than the failed rollback
        finally:
            connection.close()

    def commit(self) -> None:
        connection = self.connection()
        transaction = connection.get_transaction()
        if transaction is None or not transaction.is_active:
            raise RuntimeError("this unit of work has no open transaction to commit")
        try:
            transaction.commit()
        except OperationalError as exc:
            raise self._store.unavailable("could not commit to", exc) from exc

    def connection(self) -> Connection:
        """The open transaction's connection; only inside ``with`` and before :meth:`commit`."""
        connection = self._connection
        if connection is None or not connection.in_transaction():
            raise RuntimeError("use a unit of work inside `with` and before commit()")
        return connection

    def writer(self) -> Connection:
        """The connection, after making sure this transaction may write and holds the writers' lock."""
        connection = self.connection()
        if self.read_only:
            raise RuntimeError("this unit of work is read-only")
        if not self._write_locked and self._store.backend == "postgresql":
            locked = connection.execute(
                select(AuditHeadRow.id).where(AuditHeadRow.id == HEAD_ROW_ID).with_for_update()
            ).one_or_none()
            if locked is None:
                raise Unavailable(f"the database at {self._store.safe_url} has no audit head: run the migrations")
        self._write_locked = True
        return connection


# ---- requests ---------------------------------------------------------------------------------------------------


def _insert_ignoring_duplicate(connection: Connection, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT unless a row with the same primary key exists; True when inserted. Leaves the transaction usable."""
    key = list(model.__table__.primary_key.columns)
    names = [column.name for column in key]
    if connection.dialect.name == "postgresql":
        pg = postgresql.insert(model).values(values).on_conflict_do_nothing(index_elements=names).returning(*key)
        return connection.execute(pg).first() is not None
    lite = sqlite.insert(model).values(values).on_conflict_do_nothing(index_elements=names).returning(*key)
    return connection.execute(lite).first() is not None


def _aware(at: datetime, what: str) -> datetime:
    """Refuse naive datetimes here, with a plain ValueError, rather than deep inside SQLAlchemy's parameter binding."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {at.isoformat()}")
    return at


def _columns(request: AccessRequest, sealer: RequestSealer | None) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "state": request.state.value,
        "requester": request.requester.user,
        "profile": request.profile,
        "created_at": request.created_at,
        "ends_at": request.ends_at,
        "document": documents.dumps(request),
    }
    seal = None if sealer is None else sealer.seal(request_id=request.id, **columns)
    return {**columns, "seal": seal}


_STORED = (
    RequestRow.id,
    RequestRow.state,
    RequestRow.requester,
    RequestRow.profile,
    RequestRow.created_at,
    RequestRow.ends_at,
    RequestRow.document,
    RequestRow.version,
    RequestRow.seal,
)
StoredRow = Row[str, str, str, str, datetime, datetime | None, str, int, str | None]


def _revoked_after_start(request: AccessRequest) -> bool:
    """A grant whose bindings may remain until the keeper removes them: revoked after it had started."""
    return request.state is State.REVOKED and request.starts_at is not None


def _seal_of(row: StoredRow, sealer: RequestSealer | None) -> Seal:
    request_id, state, requester, profile, created_at, ends_at, document, _, seal = row
    if sealer is None:
        return Seal.MISSING
    return sealer.check(
        seal,
        request_id=request_id,
        state=state,
        requester=requester,
        profile=profile,
        created_at=created_at,
        ends_at=ends_at,
        document=document,
    )


class SqlRequests:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._sealer = uow.sealer

    def _stored(self, row: StoredRow) -> Stored:
        return Stored(documents.loads(row.document), row.version, _seal_of(row, self._sealer))

    def add(self, request: AccessRequest) -> Stored:
        connection = self._uow.writer()
        if not _insert_ignoring_duplicate(
            connection,
            RequestRow,
            {
                "id": request.id,
                "version": 1,
                "unbind_pending": _revoked_after_start(request),
                **_columns(request, self._sealer),
            },
        ):
            raise Conflict(f"a request with id {request.id} already exists")
        return Stored(request, 1, Seal.VALID if self._sealer else Seal.MISSING)

    def get(self, request_id: str) -> Stored:
        row = self._uow.connection().execute(select(*_STORED).where(RequestRow.id == request_id)).one_or_none()
        if row is None:
            raise NotFound(f"there is no request {request_id}")
        return self._stored(row)

    def update(self, request: AccessRequest, expected_version: int) -> Stored:
        connection = self._uow.writer()
        values: dict[str, Any] = {"version": RequestRow.version + 1, **_columns(request, self._sealer)}
        if _revoked_after_start(request):
            # Set on the way into REVOKED only (the old row's state): a later write does not undo a confirmation.
            values["unbind_pending"] = case(
                (RequestRow.state != State.REVOKED.value, true()), else_=RequestRow.unbind_pending
            )
        result = connection.execute(
            update(RequestRow)
            .where(RequestRow.id == request.id, RequestRow.version == expected_version)
            .values(**values)
        )
        if result.rowcount != 1:
            if not connection.execute(select(exists().where(RequestRow.id == request.id))).scalar_one():
                raise NotFound(f"there is no request {request.id}")
            raise StaleWrite(
                f"request {request.id} changed after version {expected_version} was read: read it again and retry"
            )
        return Stored(request, expected_version + 1, Seal.VALID if self._sealer else Seal.MISSING)

    def find(
        self,
        *,
        states: Sequence[State] | None = None,
        requester: str | None = None,
        profiles: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[Stored]:
        query = select(*_STORED).order_by(RequestRow.created_at.desc(), RequestRow.id.desc()).limit(max(limit, 0))
        if states is not None:
            query = query.where(RequestRow.state.in_([State(s).value for s in states]))
        if requester is not None:
            query = query.where(RequestRow.requester == requester)
        if profiles is not None:
            query = query.where(RequestRow.profile.in_(list(profiles)))
        return [self._stored(row) for row in self._uow.connection().execute(query)]

    def ending_before(self, when: datetime) -> list[Stored]:
        query = (
            select(*_STORED)
            .where(RequestRow.state == State.ACTIVE.value, RequestRow.ends_at <= _aware(when, "when"))
            .order_by(RequestRow.ends_at, RequestRow.id)
        )
        return [self._stored(row) for row in self._uow.connection().execute(query)]

    def next_end(self) -> datetime | None:
        query = select(func.min(RequestRow.ends_at)).where(RequestRow.state == State.ACTIVE.value)
        return self._uow.connection().execute(query).scalar_one()

    def every(self) -> Iterator[tuple[str, Stored | None]]:
        query = select(*_STORED).order_by(RequestRow.created_at, RequestRow.id)
        result = self._uow.connection().execute(query, execution_options={"yield_per": EVENTS_CHUNK})
        try:
            for row in result:
                try:
                    yield row.id, self._stored(row)
                except (ValueError, TypeError):
                    yield row.id, None
        finally:
            result.close()

    def seal_legacy(self, stored: Stored) -> bool:
        if self._sealer is None:
            raise RuntimeError("this store has no seal key")
        request = stored.request
        result = self._uow.writer().execute(
            update(RequestRow)
            .where(RequestRow.id == request.id, RequestRow.version == stored.version, RequestRow.seal.is_(None))
            .values(**_columns(request, self._sealer))
        )
        return bool(result.rowcount == 1)

    def awaiting_unbind(self, *, after: str = "", limit: int = 500) -> list[Stored]:
        query = (
            select(*_STORED)
            .where(RequestRow.unbind_pending.is_(true()), RequestRow.id > after)
            .order_by(RequestRow.id)
            .limit(max(limit, 0))
        )
        return [self._stored(row) for row in self._uow.connection().execute(query)]

    def confirm_unbound(self, request_id: str) -> None:
        """Not a new version of the request: the document is unchanged, and a racing writer is not made stale."""
        self._uow.writer().execute(update(RequestRow).where(RequestRow.id == request_id).values(unbind_pending=false()))


# ---- audit ------------------------------------------------------------------------------------------------------


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
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """The first ``limit`` matching events in sequence order (page on with ``since``)."""
        query = select(*_EVENT_COLUMNS).order_by(AuditEventRow.seq).limit(max(limit, 0))
        if request_id is not None:
            query = query.where(AuditEventRow.request_id == request_id)
        if actor is not None:
            query = query.where(AuditEventRow.actor == actor)
        if since is not None:
            query = query.where(AuditEventRow.at >= _aware(since, "since"))
        if request_ids is not None:
            query = query.where(AuditEventRow.request_id.in_(list(request_ids)))
        return [_event(row) for row in self._uow.connection().execute(query)]

    def head(self) -> AuditEvent | None:
        return self._head(self._uow.connection())


# ---- idempotency ------------------------------------------------------------------------------------------------


class SqlIdempotency:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def remembered(self, user: str, key: str) -> str | None:
        query = select(IdempotencyKeyRow.request_id).where(
            IdempotencyKeyRow.username == user, IdempotencyKeyRow.key == key
        )
        return self._uow.connection().execute(query).scalar_one_or_none()

    def remember(self, user: str, key: str, request_id: str, at: datetime) -> None:
        """Raises Conflict when the key already names another request, NotFound when the request does not exist."""
        connection = self._uow.writer()
        values = {"username": user, "key": key, "request_id": request_id, "created_at": _aware(at, "at")}
        try:
            inserted = _insert_ignoring_duplicate(connection, IdempotencyKeyRow, values)
        except IntegrityError as exc:
            raise NotFound(f"there is no request {request_id} to remember idempotency key {key!r} for") from exc
        if not inserted:
            earlier = self.remembered(user, key)
            if earlier != request_id:
                raise Conflict(f"{user} already used idempotency key {key!r} for request {earlier}")

    def activity_mark(self, instance: str) -> int:
        query = select(ActivityMarkRow.seq).where(ActivityMarkRow.instance == instance)
        connection = self._uow.writer()  # the row stays locked (PostgreSQL) until the batch is committed
        mark = connection.execute(query.with_for_update()).scalar_one_or_none()
        return int(mark or 0)

    def set_activity_mark(self, instance: str, seq: int, at: datetime) -> None:
        connection = self._uow.writer()
        values = {"instance": instance, "seq": seq, "updated_at": _aware(at, "at")}
        if not _insert_ignoring_duplicate(connection, ActivityMarkRow, values):
            connection.execute(
                update(ActivityMarkRow)
                .where(ActivityMarkRow.instance == instance)
                .values(seq=seq, updated_at=values["updated_at"])
            )


__all__ = ["SqlStore", "SqlUnitOfWork"]
