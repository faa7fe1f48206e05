"""The broker's tables, as typed SQLAlchemy models, and the column type that keeps every time in UTC.

:mod:`kubejit.adapters.store.sql` builds its statements from these models; the Alembic revisions under
``migrations/versions`` create the same tables explicitly (a revision is frozen history, so it does not import
this module). When a table changes, change both: add a revision, then bring this module in line with it.

- ``requests``: one row per access request. ``document`` holds the whole request (see
  :mod:`kubejit.adapters.store.documents`); the other columns copy the fields that queries filter and sort on.
  ``version`` counts writes and makes updates optimistic. ``seal`` is the broker's HMAC over the row
  (:mod:`kubejit.adapters.store.seals`); NULL on rows written before seals existed. ``unbind_pending`` marks a
  grant revoked after it started whose bindings the keeper has not yet confirmed removed (outside the document:
  it is the keeper's bookkeeping, not part of the request). ``ix_requests_id_pattern`` serves id prefix lookups.
- ``audit_events``: the hash-chained trail, append-only (the database refuses UPDATE and DELETE by trigger).
  ``data`` is the canonical JSON text that the event's hash covers, stored verbatim.
- ``audit_head``: exactly one row naming the last event. Appenders lock it, so events get gap-free sequence
  numbers in commit order.
- ``idempotency_keys``: which request a user's retried submission already created.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names are explicit so that later revisions can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HEAD_ROW_ID = 1

# A 64-bit sequence number that is still SQLite's rowid (only "INTEGER PRIMARY KEY" is).
Sequence64 = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in and out, always UTC.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: SQLAlchemy stores fixed-width text, which sorts
    and compares correctly because every value is converted to UTC first. Naive datetimes are refused, never
    guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store the naive datetime {value.isoformat()}: use a timezone-aware one")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RequestRow(Base):
    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    requester: Mapped[str] = mapped_column(String(255))
    profile: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    document: Mapped[str] = mapped_column(Text)
    seal: Mapped[str | None] = mapped_column(String(64))  # HMAC by the broker's key (adapters.store.seals)
    unbind_pending: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_requests_created_at", "created_at"),
        Index("ix_requests_state_ends_at", "state", "ends_at"),
        Index("ix_requests_requester_created_at", "requester", "created_at"),
        Index("ix_requests_profile_created_at", "profile", "created_at"),
        Index("ix_requests_unbind_pending_id", "unbind_pending", "id"),
        # For "the id starts with" (a unique start of an id names its request): on PostgreSQL in byte order
        # whatever the collation; on SQLite the same as the primary key's.
        Index("ix_requests_id_pattern", "id", postgresql_ops={"id": "varchar_pattern_ops"}),
    )


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Sequence64, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str] = mapped_column(String(128))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_events_request_id", "request_id"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_at", "at"),
    )


class AuditHeadRow(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Sequence64)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint(f"id = {HEAD_ROW_ID}", name="single_row"),)


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), ForeignKey("requests.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_idempotency_keys_request_id", "request_id"),)


class ActivityMarkRow(Base):
    """How far each gateway process's activity is recorded: its events carry increasing numbers, so a batch sent
    again after a lost answer is not recorded twice."""

    __tablename__ = "activity_marks"

    instance: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(Sequence64)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
