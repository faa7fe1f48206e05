"""The gateway's book of active grants stays equal to the broker's: what makes a revoke take effect."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kubejit.entrypoints.gateway.broker_link import BrokerLink
from kubejit.services.gateway_access import GrantBook, snapshot_digest

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


class ScriptedBroker(BrokerLink):
    """A link whose on-demand read returns what the broker holds now, without a network."""

    def __init__(self, now_active: list[dict[str, Any]], gone: list[str]) -> None:
        super().__init__(
            url="https://broker.invalid",
            client_token="t",
            verify=True,
            book=GrantBook(timedelta(seconds=5)),
            on_gone=lambda grant, _reason: gone.append(grant),
        )
        self.now_active = now_active
        self.reads = 0

    async def refresh(self) -> None:
        self.reads += 1
        self._handle("grants", json.dumps(self.now_active))


def test_a_heartbeat_whose_digest_differs_from_the_book_reads_the_grants_again() -> None:
    """g2 was granted, read on demand (the stream never showed it) and revoked between two polls of the stream:
    the stream's next word is a heartbeat for a snapshot without g2, which must remove it from the book."""

    async def scenario() -> tuple[ScriptedBroker, list[str]]:
        gone: list[str] = []
        link = ScriptedBroker(wire("g1"), gone)
        link._handle("grants", json.dumps(wire("g1")))  # the stream
        link._handle("grants", json.dumps(wire("g1", "g2")))  # an on-demand read, while g2 was active
        link._handle("heartbeat", json.dumps({"digest": snapshot_digest(wire("g1"))}))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return link, gone

    link, gone = asyncio.run(scenario())
    assert link.reads == 1
    assert set(link.book.grants) == {"g1"}
    assert gone == ["g2"]


def test_a_heartbeat_matching_the_book_reads_nothing() -> None:
    async def scenario() -> ScriptedBroker:
        link = ScriptedBroker(wire("g1"), [])
        link._handle("grants", json.dumps(wire("g1")))
        link._handle("heartbeat", json.dumps({"digest": snapshot_digest(wire("g1"))}))
        link._handle("heartbeat", "{}")  # an older broker's heartbeat carries no digest
        await asyncio.sleep(0)
        return link

    assert asyncio.run(scenario()).reads == 0


def test_the_digest_does_not_depend_on_key_order() -> None:
    shuffled = [dict(reversed(list(item.items()))) for item in wire("g1")]
    assert snapshot_digest(shuffled) == snapshot_digest(wire("g1"))
    assert snapshot_digest(wire("g1")) != snapshot_digest(wire("g1", "g2"))
