"""The broker link follows the broker's grant stream (server-sent events, parsed by httpx-sse): snapshots are
installed, heartbeats keep the book fresh only while they vouch for the snapshot it holds, and a broken or
refused stream is reconnected to. The broker is played by an in-process transport (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import UTC, datetime

import httpx

from kubejit.adapters.broker_link import BrokerLink
from kubejit.entrypoints.gateway import Sessions
from tests.unit.test_gateway_grant_book import beat, snapshot, wire
from tests.unit.test_gateway_grant_book import link_to as grant_book_link_to

STREAM = "/api/v1/gateway/grants/stream"


def grants_event(revision: int, *ids: str) -> bytes:
    return f"event: grants\ndata: {snapshot(revision, *ids)}\n\n".encode()


def heartbeat_event(revision: int, *ids: str) -> bytes:
    return f"event: heartbeat\ndata: {beat(revision, *ids)}\n\n".encode()


class StreamingBroker:
    """Answers the stream with ``chunks`` (then ends it), and the on-demand read with ``current``."""

    def __init__(self, chunks: list[bytes], *, status: int = 200, content_type: str = "text/event-stream") -> None:
        self.chunks = chunks
        self.status = status
        self.content_type = content_type
        self.current = json.dumps({"revision": 0, "grants": []})
        self.connections = 0
        self.reads = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == STREAM:
            self.connections += 1
            assert request.headers["accept"] == "text/event-stream"
            return httpx.Response(self.status, headers={"content-type": self.content_type}, content=self._body())
        assert request.url.path == "/api/v1/gateway/grants"
        self.reads += 1
        return httpx.Response(200, text=self.current)

    async def _body(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


class LinkTo(BrokerLink):
    """The real link, with its stream client talking to the in-process broker too."""

    transport: httpx.MockTransport

    def client(self, timeout: float | None = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, transport=self.transport)


def link_to(broker: StreamingBroker, sessions: Sessions) -> BrokerLink:
    link = grant_book_link_to(broker, sessions, LinkTo)  # type: ignore[arg-type]  # a broker of the same shape
    assert isinstance(link, LinkTo)
    link.transport = httpx.MockTransport(broker.handler)
    return link


def follow_until(link: BrokerLink, done: Callable[[], bool], *, timeout: float = 3.0) -> None:
    async def scenario() -> None:
        task = asyncio.ensure_future(link.follow_grants())
        try:
            async with asyncio.timeout(timeout):
                while not done():
                    await asyncio.sleep(0.01)
            if link._resync is not None:
                await link._resync
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await link.aclose()

    asyncio.run(scenario())


def test_snapshots_and_heartbeats_split_across_chunks_are_read_whole() -> None:
    event = grants_event(5, "g1", "g2") + heartbeat_event(6, "g1", "g2")
    broker = StreamingBroker([event[:7], event[7:40], event[40:-1], event[-1:]])
    link = link_to(broker, Sessions())
    follow_until(link, lambda: link.book.revision == 6)
    assert set(link.book.grants) == {"g1", "g2"}
    assert link.book.fresh(datetime.now(UTC))
    assert broker.reads == 0  # the heartbeat vouched for the snapshot held


def test_a_snapshot_without_a_grant_ends_its_sessions() -> None:
    sessions = Sessions()
    closed: list[str] = []
    sessions.add("g2", 1e12, closed.append)
    broker = StreamingBroker([grants_event(1, "g1", "g2"), grants_event(2, "g1")])
    link = link_to(broker, sessions)
    follow_until(link, lambda: link.book.revision == 2)
    assert closed == ["the grant was revoked or ended"]


def test_a_heartbeat_for_another_snapshot_reads_the_grants_again() -> None:
    broker = StreamingBroker([grants_event(1, "g1", "g2"), heartbeat_event(2, "g1")])
    broker.current = json.dumps({"revision": 2, "grants": wire("g1")})
    link = link_to(broker, Sessions())
    follow_until(link, lambda: broker.reads == 1 and link.book.revision == 2)
    assert set(link.book.grants) == {"g1"}


def test_comments_and_unknown_events_are_ignored() -> None:
    broker = StreamingBroker([b": keep-alive\n\n", b"event: other\ndata: {}\n\n", grants_event(3, "g1")])
    link = link_to(broker, Sessions())
    follow_until(link, lambda: link.book.revision == 3)
    assert set(link.book.grants) == {"g1"}


def test_a_refused_stream_is_tried_again_and_installs_nothing() -> None:
    broker = StreamingBroker([grants_event(1, "g1")], status=401)
    link = link_to(broker, Sessions())
    follow_until(link, lambda: broker.connections >= 2)
    assert link.book.heard_at is None


def test_a_response_that_is_not_an_event_stream_is_tried_again() -> None:
    broker = StreamingBroker([grants_event(1, "g1")], content_type="application/json")
    link = link_to(broker, Sessions())
    follow_until(link, lambda: broker.connections >= 2)
    assert link.book.heard_at is None
