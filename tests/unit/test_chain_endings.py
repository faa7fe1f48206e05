"""ChainEndings: the keeper's view of which requests the audit chain has ended, read incrementally: the new
events at every call, and the events from before the first call a chunk at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from kubejit.domain.audit import AuditKind
from kubejit.services.grant_trust import ChainEndings
from tests.unit.fakes import FakeStore

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _append(store: FakeStore, kind: AuditKind, request_id: str, count: int = 1) -> None:
    with store() as uow:
        for _ in range(count):
            uow.audit.append(kind=kind, actor="kubejit", at=AT, request_id=request_id)
        uow.commit()


def test_ends_from_before_the_first_call_are_caught_up_a_chunk_at_a_time() -> None:
    store = FakeStore()
    _append(store, AuditKind.GRANT_REVOKED, "old-revoked")
    _append(store, AuditKind.GRANT_EXTENSION_REQUESTED, "busy", count=7)
    _append(store, AuditKind.GRANT_EXPIRED, "old-expired")
    endings = ChainEndings(catch_up=4)
    with store() as uow:
        first = set(endings.ended(uow))
    _append(store, AuditKind.GRANT_REVOKED, "new-revoked")
    with store() as uow:
        second = set(endings.ended(uow))
    with store() as uow:
        third = set(endings.ended(uow))
    assert first == {"old-revoked"}
    assert second == {"old-revoked", "new-revoked"}
    assert third == {"old-revoked", "new-revoked", "old-expired"}


def test_events_that_do_not_end_a_request_end_nothing() -> None:
    store = FakeStore()
    _append(store, AuditKind.GRANT_ACTIVATED, "active")
    _append(store, AuditKind.GRANT_EXTENSION_APPROVED, "active")
    with store() as uow:
        assert ChainEndings().ended(uow) == set()
