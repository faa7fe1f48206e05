"""Idempotency keys and the gateways' activity marks on SQLAlchemy: what a retried request or a re-sent activity
batch finds already done, and when each gateway process was last heard from (a mark's ``updated_at``). A
:class:`~kubejit.adapters.store.sql.SqlUnitOfWork` makes one per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kubejit.adapters.store._rows import aware, insert_ignoring_duplicate
from kubejit.adapters.store.schema import ActivityMarkRow, IdempotencyKeyRow
from kubejit.domain.errors import Conflict, NotFound

if TYPE_CHECKING:
    from kubejit.adapters.store.sql import SqlUnitOfWork


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
        values = {"username": user, "key": key, "request_id": request_id, "created_at": aware(at, "at")}
        try:
            inserted = insert_ignoring_duplicate(connection, IdempotencyKeyRow, values)
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
        values = {"instance": instance, "seq": seq, "updated_at": aware(at, "at")}
        if not insert_ignoring_duplicate(connection, ActivityMarkRow, values):
            connection.execute(
                update(ActivityMarkRow)
                .where(ActivityMarkRow.instance == instance)
                .values(seq=seq, updated_at=values["updated_at"])
            )

    def last_heard(self, instances: Sequence[str]) -> dict[str, datetime]:
        query = select(ActivityMarkRow.instance, ActivityMarkRow.updated_at).where(
            ActivityMarkRow.instance.in_(list(instances))
        )
        return {str(instance): at for instance, at in self._uow.connection().execute(query)}
