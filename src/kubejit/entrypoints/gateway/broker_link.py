"""The gateway's link to the broker: the active grants (a server-sent event stream), the public keys grant tokens
are checked with, and the activity the gateway records.

The gateway keeps no database. If the grant stream goes silent for longer than the configured staleness, the
grant book stops being fresh and every request is refused (fail closed). Activity is sent in batches; with
``failMode: closed`` (the default) the gateway refuses requests while it cannot deliver what it recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kubejit.services.gateway_access import ActiveGrant, GrantBook

log = logging.getLogger("kubejit.gateway")


@dataclass
class BrokerLink:
    url: str
    client_token: str
    verify: Any  # ssl.SSLContext or True
    book: GrantBook
    on_gone: Callable[[str, str], None]  # (grant id, reason): close its sessions
    gateway_name: str = "gateway"
    fail_closed: bool = True
    max_delay: timedelta = timedelta(seconds=10)
    max_queue: int = 10_000
    _queue: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    _refreshed: float = 0.0
    delivered: int = 0

    def client(self, timeout: float | None = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            verify=self.verify,
            headers={"Authorization": f"Bearer {self.client_token}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    async def public_keys(self) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.get("/.well-known/kubejit-gateway-keys")
            response.raise_for_status()
            keys: dict[str, Any] = response.json()
            return keys

    # ---- grants -----------------------------------------------------------------------------------------------

    async def follow_grants(self) -> None:
        """Keep the grant book current; reconnect on any failure (the book goes stale meanwhile)."""
        while True:
            try:
                async with (
                    self.client(timeout=None) as client,
                    client.stream("GET", "/api/v1/gateway/grants/stream") as response,
                ):
                    response.raise_for_status()
                    event = ""
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line.partition(":")[2].strip()
                        elif line.startswith("data:"):
                            self._handle(event, line.partition(":")[2].strip())
            except (httpx.HTTPError, ValueError, KeyError) as error:
                log.warning("grant stream from the broker broke (%s); reconnecting", type(error).__name__)
            await asyncio.sleep(0.5)

    async def refresh(self) -> None:
        """Read the active grants now (a token for a grant newer than the last stream event): at most every
        100 ms, whoever asks."""
        if time.monotonic() - self._refreshed < 0.1:
            return
        self._refreshed = time.monotonic()
        try:
            async with self.client() as client:
                response = await client.get("/api/v1/gateway/grants")
                response.raise_for_status()
                self._handle("grants", response.text)
        except httpx.HTTPError as error:
            log.warning("could not read the active grants from the broker (%s)", type(error).__name__)

    def _handle(self, event: str, data: str) -> None:
        now = datetime.now(UTC)
        if event == "heartbeat":
            self.book.heartbeat(now)
        elif event == "grants":
            grants = [ActiveGrant.from_wire(item) for item in json.loads(data)]
            for gone in self.book.replace(grants, now):
                self.on_gone(gone, "the grant was revoked or ended")

    # ---- activity ---------------------------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        self._queue.append((time.monotonic(), event))

    def ready(self) -> bool:
        """Whether requests may proceed: recorded activity is being delivered (always True when failing open)."""
        if not self.fail_closed or not self._queue:
            return True
        oldest = self._queue[0][0]
        return len(self._queue) < self.max_queue and time.monotonic() - oldest < self.max_delay.total_seconds()

    async def send_activity(self, interval: float = 0.3, batch: int = 500) -> None:
        while True:
            await asyncio.sleep(interval)
            while self._queue:
                chunk = [event for _, event in list(self._queue)[:batch]]
                try:
                    async with self.client() as client:
                        response = await client.post("/api/v1/gateway/activity", json=chunk)
                        response.raise_for_status()
                except httpx.HTTPError as error:
                    log.warning("could not deliver %d activity events (%s)", len(chunk), type(error).__name__)
                    break
                for _ in chunk:
                    self._queue.popleft()
                self.delivered += len(chunk)
