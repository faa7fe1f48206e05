"""The requests repository on SQLAlchemy: optimistic updates by version, each row sealed by the broker's key and
read back with its seal checked, and the keeper's queries (ending grants, revoked grants still to unbind). A
:class:`~kubejit.adapters.store.sql.SqlUnitOfWork` makes one per transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, case, exists, false, func, or_, select, true, update

from kubejit.adapters.store import documents
from kubejit.adapters.store._rows import EVENTS_CHUNK, aware, insert_ignoring_duplicate, starts_with
from kubejit.adapters.store.schema import RequestRow
from kubejit.adapters.store.seals import RequestSealer
from kubejit.domain.errors import Conflict, NotFound, StaleWrite
from kubejit.domain.workflow import AccessRequest, State
from kubejit.ports import Seal, Stored

if TYPE_CHECKING:
    from kubejit.adapters.store.sql import SqlUnitOfWork


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
        if not insert_ignoring_duplicate(
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

    def with_id_prefix(self, prefix: str, *, after: str = "", limit: int = 100) -> list[Stored]:
        """Served by an index (see :func:`starts_with`); unreadable rows are left out (never access)."""
        connection = self._uow.connection()
        query = (
            select(*_STORED)
            .where(starts_with(RequestRow.id, prefix, connection.dialect.name), RequestRow.id > after)
            .order_by(RequestRow.id)
            .limit(max(limit, 0))
        )
        found: list[Stored] = []
        for row in connection.execute(query):
            try:
                found.append(self._stored(row))
            except (ValueError, TypeError):
                continue
        return found

    def ending_before(self, when: datetime) -> list[Stored]:
        query = (
            select(*_STORED)
            .where(RequestRow.state == State.ACTIVE.value, RequestRow.ends_at <= aware(when, "when"))
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

    def unsealed(self) -> Iterator[Stored]:
        query = (
            select(*_STORED)
            .where(or_(RequestRow.seal.is_(None), RequestRow.seal == ""))
            .order_by(RequestRow.created_at, RequestRow.id)
        )
        result = self._uow.connection().execute(query, execution_options={"yield_per": EVENTS_CHUNK})
        try:
            for row in result:
                try:
                    yield self._stored(row)
                except (ValueError, TypeError):
                    continue  # unreadable: never access, and named by audit verify (every)
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
