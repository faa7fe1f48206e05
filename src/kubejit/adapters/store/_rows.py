"""What the store's repositories share: inserting a row unless it is already there, aware timestamps, and the
chunk size of streamed reads. Used by the request, audit and idempotency repositories of :mod:`.sql`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

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
