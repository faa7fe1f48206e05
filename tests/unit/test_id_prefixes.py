"""A unique start of an id names its request (``kubejit approve req-fdf5``): looked up with the store's prefix
query, never by reading the whole requests table, and only among the requests the caller can see."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from kubejit.domain.errors import InvalidInput, NotFound
from kubejit.domain.policy import Identity
from kubejit.services.access import AccessService
from tests.unit import fakes
from tests.unit.fakes import FakeClock, FakeStore, RecordingNotifier
from tests.unit.policies import ALICE, BOB, policy, profile

CAROL = Identity("carol", frozenset({"payments-devs"}))  # a requester like alice: neither sees the other's


class Ids:
    """The ids new requests get: whatever the test puts next."""

    def __init__(self) -> None:
        self.next: Iterator[str] = iter(())

    def __call__(self) -> str:
        return next(self.next)


@pytest.fixture
def ids() -> Ids:
    return Ids()


@pytest.fixture
def access(ids: Ids, monkeypatch: pytest.MonkeyPatch) -> AccessService:
    def no_table_scan(self: object) -> Iterator[object]:
        raise AssertionError("the whole requests table was read to resolve an id prefix")

    monkeypatch.setattr(fakes._Requests, "every", no_table_scan)
    return AccessService(lambda: policy(profile()), FakeStore(), FakeClock(), RecordingNotifier(), new_id=ids)


def _submit(access: AccessService, ids: Ids, who: Identity, *request_ids: str) -> None:
    ids.next = iter(request_ids)
    for _ in request_ids:
        access.submit(
            who, profile="payments-debug", namespaces=("payments",), duration=timedelta(minutes=5), reason="INC-1"
        )


def test_a_unique_start_names_its_request_without_reading_the_table(access: AccessService, ids: Ids) -> None:
    _submit(access, ids, ALICE, "req-ab01", "req-ac02")
    assert access.get(ALICE, "req-ab").id == "req-ab01"
    assert access.resolve(BOB, "req-ac") == "req-ac02"
    assert access.approve(BOB, "req-ab0", "ok").id == "req-ab01"


def test_requests_the_caller_cannot_see_are_neither_matched_nor_counted(access: AccessService, ids: Ids) -> None:
    _submit(access, ids, CAROL, *(f"req-f{n:04x}" for n in range(150)))  # more than a page of the store's query
    _submit(access, ids, ALICE, "req-fffff")
    assert access.get(ALICE, "req-f").id == "req-fffff"  # carol's 150 come first, and are passed over
    with pytest.raises(NotFound, match=r"there is no request req-f0 \(nor one whose id starts with it\) that you can"):
        access.get(ALICE, "req-f0")
    with pytest.raises(InvalidInput, match=r"req-f0 is the start of more than 5 request ids"):
        access.get(BOB, "req-f0")  # an approver sees them all


def test_an_ambiguous_start_names_at_most_five_matches(access: AccessService, ids: Ids) -> None:
    _submit(access, ids, ALICE, *(f"req-e{n}" for n in range(7)))
    with pytest.raises(InvalidInput) as many:
        access.get(ALICE, "req-e")
    assert str(many.value) == (
        "req-e is the start of more than 5 request ids (req-e0, req-e1, req-e2, req-e3, req-e4, ...): "
        "give more of the id"
    )
    _submit(access, ids, ALICE, "req-d1", "req-d2")
    with pytest.raises(InvalidInput, match=r"^req-d is the start of 2 request ids \(req-d1, req-d2\): give more"):
        access.get(ALICE, "req-d")
