"""What the broker does with a gateway's activity batches: validate them, chain them, never record one twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kubejit.domain.audit import verify
from kubejit.domain.errors import InvalidInput
from kubejit.services.gateway_feed import GatewayFeed
from tests.unit.fakes import FakeClock, FakeStore
from tests.unit.policies import policy


class NoSigner:
    def sign(self, claims: dict[str, Any]) -> str:
        raise AssertionError("no token is signed here")


def feed() -> tuple[GatewayFeed, FakeStore]:
    store = FakeStore()
    return GatewayFeed(policy=policy, uow=store, clock=FakeClock(), signer=NoSigner()), store


def event(seq: int | None, **extra: Any) -> dict[str, Any]:
    numbered = {} if seq is None else {"gatewaySeq": seq}
    return {"kind": "activity.request", "user": "alice", "grant": "req-1", "verb": "get", **numbered, **extra}


def test_a_batch_sent_again_after_a_lost_answer_is_not_recorded_twice() -> None:
    gateway, store = feed()
    assert gateway.record_activity("gateway", [event(1), event(2), event(3)], "gw/a") == 3
    # The answer was lost; the gateway sends the same events again, with one more that arrived meanwhile.
    assert gateway.record_activity("gateway", [event(1), event(2), event(3), event(4)], "gw/a") == 1
    recorded = [e.data["gatewaySeq"] for e in store.db.audit]
    assert recorded == [1, 2, 3, 4]
    assert {e.data["gatewayInstance"] for e in store.db.audit} == {"gw/a"}
    assert verify(store.db.audit).ok


def test_each_gateway_process_has_its_own_numbers() -> None:
    gateway, store = feed()
    gateway.record_activity("gateway", [event(1), event(2)], "gw/a")
    assert gateway.record_activity("gateway", [event(1)], "gw/b") == 1  # a restarted gateway starts again at 1
    assert len(store.db.audit) == 3


def test_unnumbered_events_are_always_recorded() -> None:
    gateway, store = feed()
    gateway.record_activity("gateway", [event(None)], None)
    gateway.record_activity("gateway", [event(None)], None)
    assert len(store.db.audit) == 2


@pytest.mark.parametrize(
    ("events", "instance", "problem"),
    [
        ([event(0)], "gw/a", "gatewaySeq must be a positive integer"),
        ([event(None, gatewaySeq="7")], "gw/a", "gatewaySeq must be a positive integer"),
        ([event(True)], "gw/a", "gatewaySeq must be a positive integer"),  # type: ignore[arg-type]
        ([event(1)], "gw a\\n", "gateway instance must be"),
        ([{"kind": "activity.oops", "user": "alice"}], None, "unknown activity kind"),
        ([{"kind": "activity.request"}], None, "needs its user"),
    ],
)
def test_bad_batches_are_refused_whole(events: list[dict[str, Any]], instance: str | None, problem: str) -> None:
    gateway, store = feed()
    with pytest.raises(InvalidInput, match=problem):
        gateway.record_activity("gateway", [event(1), *events], instance)
    assert store.db.audit == []


def test_every_batch_from_a_process_says_when_it_was_last_heard_from_an_empty_one_too() -> None:
    """An idle gateway's empty batch is its heartbeat: nothing is recorded, its mark's time moves, its number
    stays (services/live_sessions reads the time)."""
    gateway, store = feed()
    clock = gateway.clock
    assert isinstance(clock, FakeClock)
    first = clock.now()
    gateway.record_activity("gateway", [event(1), event(2)], "gw/a")
    clock.advance(seconds=5)
    head = store.db.audit[-1]
    assert gateway.record_activity("gateway", [], "gw/a") == 0
    assert store.db.audit[-1] == head  # an empty batch records nothing
    clock.advance(seconds=5)
    gateway.record_activity("gateway", [event(1)], "gw/a")  # sent again: skipped, yet heard from
    with store(read_only=True) as uow:
        assert uow.idempotency.last_heard(["gw/a", "gw/b"]) == {"gw/a": first + timedelta(seconds=10)}
        assert uow.idempotency.activity_mark("gw/a") == 2
    assert gateway.record_activity("gateway", [event(3)], "gw/a") == 1
