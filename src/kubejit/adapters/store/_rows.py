"""What the store's repositories share: inserting a row unless it is already there, aware timestamps, the chunk
size of streamed reads, and the "starts with" condition an index can serve. Used by the request, audit and
idempotency repositories of :mod:`.sql`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute

EVENTS_CHUNK = 500


def insert_ignoring_duplicate(connection: Connection, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT unless a row with the same primary key exists; True when inserted. Leaves the transaction usable."""
    key = list(model.__table__.primary_key.columns)
    names = [column.name for column in key]
    if connection.dialect.name == "postgresql":
        pg = postgresql.insert(model).values(values).on_conflict_do_nothing(index_elements=names).returning(*key)
        return connection.execute(pg).first() is not None
    lite = sqlite.insert(model).values(values).on_conflict_do_nothing(index_elements=names).returning(*key)
    return connection.execute(lite).first() is not None


def aware(at: datetime, what: str) -> datetime:
    """Refuse naive datetimes here, with a plain ValueError, rather than deep inside SQLAlchemy's parameter binding."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {at.isoformat()}")
    return at


def starts_with(column: InstrumentedAttribute[str], prefix: str, dialect: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, taken literally (``%``, ``_`` and ``\\`` are escaped), as a range an index
    serves: on SQLite the column's own (BINARY) index, on PostgreSQL a ``varchar_pattern_ops`` index (byte order,
    whatever the database's collation). The range is exact in byte order; ``LIKE`` says the same once more, so a
    collation that reorders never widens the answer."""
    if not prefix:
        raise ValueError("a prefix must not be empty")
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    at_least, below = ("~>=~", "~<~") if dialect == "postgresql" else (">=", "<")
    conditions = [column.like(f"{escaped}%", escape="\\"), column.op(at_least)(prefix)]
    following = ord(prefix[-1]) + 1  # the first string after every one that starts with prefix
    following += 0x800 if following == 0xD800 else 0  # (UTF-8 has no surrogates)
    if following <= 0x10FFFF:  # (nothing comes after U+10FFFF)
        conditions.append(column.op(below)(prefix[:-1] + chr(following)))
    return and_(*conditions)
