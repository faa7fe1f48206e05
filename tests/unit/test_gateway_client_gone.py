"""The watchdog of a stream (a watch with no events for minutes): it asks every CLIENT_CHECK_SECONDS whether the
client went away and, once it has, ends the exchange once and stops; while the client stays it keeps asking and
does nothing. The exchange's ending keeps its first reason: a client gone after the grant's cut-off does not
turn the cut-off into "the client left"."""

from __future__ import annotations

import asyncio

import pytest

from kubejit.entrypoints.gateway import _forwarding
from kubejit.entrypoints.gateway._forwarding import CLIENT_LEFT, _Ending, watch_client


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_forwarding, "CLIENT_CHECK_SECONDS", 0.01)


def test_a_client_gone_ends_the_exchange_once_and_the_watchdog_stops() -> None:
    answers = iter([False, False, True])
    ended: list[str] = []

    async def scenario() -> None:
        await asyncio.wait_for(watch_client(lambda: next(answers), lambda: ended.append("left")), timeout=5)

    asyncio.run(scenario())
    assert ended == ["left"]


def test_while_the_client_stays_the_watchdog_asks_again_and_ends_nothing() -> None:
    asked: list[int] = []
    ended: list[str] = []

    def still_there() -> bool:
        asked.append(1)
        return False

    async def scenario() -> None:
        task = asyncio.ensure_future(watch_client(still_there, lambda: ended.append("left")))
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()

    asyncio.run(scenario())
    assert len(asked) >= 3
    assert ended == []


class _Upstream:
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_the_first_reason_to_end_an_exchange_stays() -> None:
    upstream = _Upstream()
    ending = _Ending(upstream)  # type: ignore[arg-type]
    ending.end("grant req-1 was revoked", grant_ended=True)
    ending.end(CLIENT_LEFT)
    assert (ending.reason, ending.grant_reason, upstream.closed) == (
        "grant req-1 was revoked",
        "grant req-1 was revoked",
        2,
    )
    left = _Ending(_Upstream())  # type: ignore[arg-type]
    left.end(CLIENT_LEFT)
    assert (left.reason, left.grant_ended, left.grant_reason) == (CLIENT_LEFT, False, None)
