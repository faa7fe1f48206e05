"""The gateway's book of active grants stays equal to the broker's: what makes a revoke take effect.

The broker link is exercised with its real code against an in-process transport (httpx.MockTransport) that
plays the broker's /api/v1/gateway/grants endpoint: no network, no sleeps beyond the link's own pacing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kubejit.adapters.broker_link import BrokerLink
from kubejit.domain.grant_book import GrantBook, snapshot_digest
from kubejit.entrypoints.gateway import Sessions

ENDS = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def wire(*ids: str) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "user": "alice",
            "groups": [],
            "profile": "ops",
            "namespaces": ["a"],
            "endsAt": ENDS,
            "guardrails": [],
        }
        for i in ids
    ]


def snapshot(revision: int, *ids: str) -> str:
    return json.dumps({"revision": revision, "grants": wire(*ids)})


def beat(revision: int, *ids: str) -> str:
    return json.dumps({"digest": snapshot_digest(wire(*ids)), "revision": revision})


class Broker:
    """What the broker holds now, served on /api/v1/gateway/grants; counts the reads."""

    def __init__(self, revision: int, *ids: str) -> None:
        self.text = snapshot(revision, *ids)
        self.reads = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/gateway/grants"
        self.reads += 1
        return httpx.Response(200, text=self.text)


def link_to(broker: Broker, sessions: Sessions, link_class: type[BrokerLink] = BrokerLink) -> BrokerLink:
    link = link_class(
        url="https://broker.invalid",
        client_token="t",
        verify=True,
        book=GrantBook(timedelta(seconds=5)),
        on_gone=lambda grant, reason: sessions.close_grant(grant, reason),
        on_listed=sessions.listed,
    )
    link._pooled = httpx.AsyncClient(base_url=link.url, transport=httpx.MockTransport(broker.handler))
    return link


async def settle(link: BrokerLink) -> None:
    if link._resync is not None:
        await link._resync


def test_a_grant_never_shown_by_the_stream_is_removed_when_a_heartbeat_disagrees() -> None:
    """g2 was granted, read on demand (the stream never showed it) and revoked between two polls of the stream:
    the stream's next word is a heartbeat for a snapshot without g2, which must remove it from the book."""

    async def scenario() -> tuple[BrokerLink, Broker, Sessions]:
        broker, sessions = Broker(12, "g1"), Sessions()
        link = link_to(broker, sessions)
        link._handle("grants", snapshot(10, "g1"))  # the stream
        link._handle("grants", snapshot(11, "g1", "g2"))  # an on-demand read, while g2 was active
        heard = link.book.heard_at
        link._handle("heartbeat", beat(12, "g1"))  # g2 revoked at revision 12
        assert link.book.heard_at == heard  # a disagreeing heartbeat does not make the book fresher
        await settle(link)
        return link, broker, sessions

    link, broker, sessions = asyncio.run(scenario())
    assert broker.reads == 1
    assert set(link.book.grants) == {"g1"}
    assert link.book.revision == 12
    assert "g2" in sessions.ended


def test_an_older_snapshot_arriving_late_is_ignored() -> None:
    """An on-demand read taken before h was granted answers after the stream showed h: h must stay."""

    async def scenario() -> tuple[BrokerLink, Sessions]:
        broker, sessions = Broker(14, "g1", "h"), Sessions()
        link = link_to(broker, sessions)
        link._handle("grants", snapshot(14, "g1", "h"))
        link._handle("grants", snapshot(13, "g1"))  # late
        return link, sessions

    link, sessions = asyncio.run(scenario())
    assert set(link.book.grants) == {"g1", "h"}
    assert sessions.ended == {}


def test_a_grant_listed_again_by_a_newer_snapshot_is_no_longer_ended() -> None:
    """An extension that raced the end: the broker lists the grant again, so its requests must pass."""
    sessions = Sessions()

    async def scenario() -> BrokerLink:
        link = link_to(Broker(0), sessions)
        link._handle("grants", snapshot(20, "g1"))
        link._handle("grants", snapshot(21))  # g1 past its end
        assert "g1" in sessions.ended
        link._handle("grants", snapshot(22, "g1"))  # extended
        return link

    link = asyncio.run(scenario())
    assert set(link.book.grants) == {"g1"}
    assert sessions.ended == {}


def test_a_heartbeat_matching_the_book_reads_nothing_and_advances_its_revision() -> None:
    async def scenario() -> tuple[BrokerLink, Broker]:
        broker = Broker(30, "g1")
        link = link_to(broker, Sessions())
        link._handle("grants", snapshot(25, "g1"))
        link._handle("heartbeat", beat(30, "g1"))
        link._handle("heartbeat", "{}")  # an older broker's heartbeat carries no digest
        link._handle("grants", snapshot(28, "g1", "old"))  # older than what the heartbeat vouched for
        await settle(link)
        return link, broker

    link, broker = asyncio.run(scenario())
    assert broker.reads == 0
    assert link.book.revision == 30
    assert set(link.book.grants) == {"g1"}


def test_concurrent_reads_of_unknown_grants_share_one_broker_read() -> None:
    """kubectl's first command under a new grant sends its discovery requests in parallel: each must see a read
    that started after it asked, and the broker must not be read once per request."""

    async def scenario() -> tuple[BrokerLink, Broker]:
        broker = Broker(40, "g1", "new")
        link = link_to(broker, Sessions())
        link._handle("grants", snapshot(39, "g1"))
        await asyncio.gather(*(link.refresh() for _ in range(8)))
        return link, broker

    link, broker = asyncio.run(scenario())
    assert "new" in link.book.grants
    assert broker.reads <= 2


def test_the_digest_does_not_depend_on_key_order() -> None:
    shuffled = [dict(reversed(list(item.items()))) for item in wire("g1")]
    assert snapshot_digest(shuffled) == snapshot_digest(wire("g1"))
    assert snapshot_digest(wire("g1")) != snapshot_digest(wire("g1", "g2"))


def test_activity_the_broker_finds_too_large_is_split_and_a_refused_event_is_dropped_alone() -> None:
    posted: list[list[dict[str, Any]]] = []

    def broker(request: httpx.Request) -> httpx.Response:
        events = json.loads(request.content)
        if len(events) > 2:
            return httpx.Response(413, json={"detail": "too large"})
        if any(e["kind"] == "bad" for e in events):
            return httpx.Response(400, json={"detail": "unknown activity kind"})
        posted.append(events)
        return httpx.Response(204)

    async def scenario() -> BrokerLink:
        link = link_to(Broker(0), Sessions())
        link._pooled = httpx.AsyncClient(base_url=link.url, transport=httpx.MockTransport(broker))
        for n in range(7):
            link.emit({"kind": "bad" if n == 3 else "activity.request", "n": n, "user": "alice", "grant": "g1"})
        await link.deliver(8, 8)
        return link

    link = asyncio.run(scenario())
    assert [e["n"] for batch in posted for e in batch] == [0, 1, 2, 4, 5, 6]  # in order, nothing lost but n=3
    assert (link.delivered, link.dropped, len(link._queue)) == (6, 1, 0)
    assert link.ready()


def test_an_idle_gateway_posts_an_empty_batch_as_its_heartbeat_and_a_busy_one_does_not() -> None:
    """The broker hears from every live gateway process (services/live_sessions rates a silent one's sessions
    unconfirmed); a batch that got through counts as hearing from it."""
    posted: list[tuple[str, list[dict[str, Any]]]] = []

    def broker(request: httpx.Request) -> httpx.Response:
        posted.append((request.headers["Kubejit-Gateway-Instance"], json.loads(request.content)))
        return httpx.Response(204)

    async def scenario() -> BrokerLink:
        link = link_to(Broker(0), Sessions())
        link._pooled = httpx.AsyncClient(base_url=link.url, transport=httpx.MockTransport(broker))
        await link.beat_if_idle()  # just started: nothing yet
        link.heartbeat = 0.0
        link.emit({"kind": "activity.request", "user": "alice", "grant": "g1"})
        await link.beat_if_idle()  # something waits: it is delivered, no empty batch before it
        await link.deliver(8, 8)
        link.heartbeat = 60.0
        await link.beat_if_idle()  # heard from just now
        link.heartbeat = 0.0
        await link.beat_if_idle()
        return link

    link = asyncio.run(scenario())
    assert [(instance, len(events)) for instance, events in posted] == [(link.instance, 1), (link.instance, 0)]
