"""``GET /api/v1/audit``'s ``kind`` and ``after`` are filters of the store's query, not of the trail read through:
the audit service asks the store once and never reads events to leave them out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from kubejit.domain.policy import Identity
from kubejit.services.audit import AuditService
from tests.unit import fakes
from tests.unit.fakes import FakeClock, FakeStore
from tests.unit.policies import ALICE, DAVE, active_grant, policy, profile


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> AuditService:
    store, clock = FakeStore(), FakeClock()
    with store() as uow:
        for n, (kind, actor, request_id) in enumerate(
            [
                ("request.submitted", "alice", "req-1"),
                ("request.submitted", "carol", "req-2"),
                ("request.approved", "bob", "req-1"),
                ("grant.revoked", "bob", "req-2"),
                ("grant.revoked", "erin", "req-1"),
            ]
        ):
            uow.audit.append(kind=kind, actor=actor, at=clock.now() + timedelta(minutes=n), request_id=request_id)
        uow.requests.add(active_grant(id="req-1"))  # alice's; req-2 is someone else's
        uow.commit()

    def no_read_through(self: object, *, after_seq: int = 0) -> Iterator[object]:
        raise AssertionError("the trail was read through to filter it")

    monkeypatch.setattr(fakes._Audit, "events", no_read_through)
    return AuditService(lambda: policy(profile()), store, clock)


def _seqs(audit: AuditService, who: Identity, **filters: object) -> list[int]:
    return [e.seq for e in audit.query(who, **filters)]  # type: ignore[arg-type]


def test_kinds_and_after_are_filtered_in_the_store(audit: AuditService) -> None:
    assert _seqs(audit, DAVE, kinds=["grant.revoked"]) == [4, 5]
    assert _seqs(audit, DAVE, kinds=["grant.revoked", "request.approved"], after=3) == [4, 5]
    assert _seqs(audit, DAVE, after=2, limit=2) == [3, 4]
    assert _seqs(audit, DAVE, kinds=["request.submitted"], user="carol") == [2]


def test_someone_who_is_not_an_auditor_still_sees_only_their_own_requests(audit: AuditService) -> None:
    assert _seqs(audit, ALICE, kinds=["grant.revoked"]) == [5]  # not req-2's revoke
    assert _seqs(audit, ALICE, after=1) == [3, 5]
