"""A quiet stream (a watch with no events) notices a client that went away, without reading from it: the wait for
kube-apiserver's next bytes is interrupted, and cancelled, once the client is gone; data that arrives first is
read as usual."""

from __future__ import annotations

import asyncio

import pytest

from kubejit.entrypoints.gateway import _forwarding
from kubejit.entrypoints.gateway._forwarding import _ClientLeft, _read_while_client_stays


class QuietUpstream:
    """An upstream whose next bytes come when ``arrive`` is set; remembers whether its read was cancelled."""

    def __init__(self) -> None:
        self.arrive = asyncio.Event()
        self.cancelled = False

    async def read_more(self) -> None:
        try:
            await self.arrive.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_forwarding, "CLIENT_CHECK_SECONDS", 0.01)


def test_a_client_gone_while_the_stream_is_quiet_ends_the_wait_and_cancels_the_read() -> None:
    async def scenario() -> QuietUpstream:
        upstream = QuietUpstream()
        checks = iter([False, False, True])
        with pytest.raises(_ClientLeft):
            await _read_while_client_stays(upstream, lambda: next(checks))  # type: ignore[arg-type]
        return upstream

    assert asyncio.run(scenario()).cancelled


def test_bytes_that_arrive_while_the_client_stays_are_read() -> None:
    async def scenario() -> QuietUpstream:
        upstream = QuietUpstream()
        asyncio.get_running_loop().call_later(0.05, upstream.arrive.set)
        asked: list[float] = []

        def still_there() -> bool:
            asked.append(asyncio.get_running_loop().time())
            return False

        await _read_while_client_stays(upstream, still_there)  # type: ignore[arg-type]
        assert len(asked) >= 2  # it asked while waiting, and kept waiting
        return upstream

    assert not asyncio.run(scenario()).cancelled


def test_an_upstream_failure_is_not_hidden() -> None:
    class Broken(QuietUpstream):
        async def read_more(self) -> None:
            raise ConnectionError("kube-apiserver closed the connection")

    with pytest.raises(ConnectionError, match="kube-apiserver closed"):
        asyncio.run(_read_while_client_stays(Broken(), lambda: False))  # type: ignore[arg-type]
