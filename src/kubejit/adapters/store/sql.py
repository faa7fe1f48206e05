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

import os
from pathlib import Path
from types import TracebackType
from typing import Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from kubejit.adapters.store._audit import SqlAudit
from kubejit.adapters.store._idempotency import SqlIdempotency
from kubejit.adapters.store._requests import SqlRequests
from kubejit.adapters.store.schema import HEAD_ROW_ID, AuditHeadRow
from kubejit.adapters.store.seals import RequestSealer
from kubejit.domain.errors import InvalidInput, Unavailable
from kubejit.ports import AuditRepository, IdempotencyRepository, RequestRepository

MIGRATIONS = "kubejit.adapters.store:migrations"
VERSION_TABLE = "kubejit_alembic_version"
# Held while migrating, so that replicas starting together on one PostgreSQL database take turns.
MIGRATION_LOCK_KEY = 0x6B75_6265_6A69_74  # "kubejit"


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


__all__ = ["SqlStore", "SqlUnitOfWork"]
