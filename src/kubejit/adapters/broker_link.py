"""The gateway's link to the broker: the active grants (a server-sent event stream), the public keys grant tokens
are checked with, and the activity the gateway records. ``main.py`` builds it; the proxy asks it whether
activity is being delivered (:meth:`BrokerLink.ready`) and for a fresh read of the grants.

The grant stream is parsed by httpx-sse (events: ``grants``, a snapshot; ``heartbeat``, the digest and revision of
the broker's current snapshot).

The gateway keeps no database. If the grant stream goes silent for longer than the configured staleness, the
grant book stops being fresh and every request is refused (fail closed). Activity is sent in batches; with
``failMode: closed`` (the default) the gateway refuses requests while it cannot deliver what it recorded.

An idle gateway still posts an empty batch every :data:`HEARTBEAT_SECONDS`: the broker stores when it last heard
from each gateway process (by its ``Kubejit-Gateway-Instance``), shared by every broker replica, and calls the
sessions of a process silent for longer *unconfirmed* (``domain/live_sessions``). The grant stream could not
serve for that: it names no process, and only the broker replica holding it knows it is connected.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from kubejit.domain.grant_book import ActiveGrant, GrantBook, snapshot_digest

log = logging.getLogger("kubejit.gateway")
HEARTBEAT_SECONDS = 5.0  # an empty batch when nothing was delivered for this long (well under GATEWAY_SILENCE)


@dataclass
class BrokerLink:
    url: str
    client_token: str
    verify: Any  # ssl.SSLContext or True
    book: GrantBook
    on_gone: Callable[[str, str], None]  # (grant id, reason): close its sessions
    on_listed: Callable[[set[str]], None] = lambda _ids: None  # the grants an installed snapshot holds
    gateway_name: str = "gateway"
    fail_closed: bool = True
    max_delay: timedelta = timedelta(seconds=10)
    max_queue: int = 10_000
    _queue: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    _refreshed: float = 0.0  # when the last read of the active grants started (monotonic)
    _refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pooled: httpx.AsyncClient | None = None
    _resync: asyncio.Task[None] | None = None
    delivered: int = 0
    dropped: int = 0
    failed_batches: int = 0  # POSTs of activity that did not get through (the events stay queued)
    instance: str = field(init=False)  # this process, as the broker knows it: the gateway's name and a random part
    _numbered: int = 0  # the last number given to an activity event of this process
    heartbeat: float = HEARTBEAT_SECONDS
    _posted: float = field(default_factory=time.monotonic)  # when a batch last got through (monotonic)

    def __post_init__(self) -> None:
        self.instance = f"{re.sub(r'[^A-Za-z0-9._:-]', '-', self.gateway_name)[:200]}/{uuid.uuid4().hex[:16]}"

    def client(self, timeout: float | None = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            verify=self.verify,
            headers={"Authorization": f"Bearer {self.client_token}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    @property
    def pooled(self) -> httpx.AsyncClient:
        """One keep-alive client for the frequent short calls (activity batches, grant reads). A new client per
        call built a TLS context each time (tens of milliseconds of CPU with the system CA bundle), which
        blocked the gateway's event loop and every request it was serving."""
        if self._pooled is None:
            self._pooled = self.client()
        return self._pooled

    async def aclose(self) -> None:
        if self._pooled is not None:
            await self._pooled.aclose()
            self._pooled = None

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
                    aconnect_sse(client, "GET", "/api/v1/gateway/grants/stream") as source,
                ):
                    source.response.raise_for_status()
                    async for message in source.aiter_sse():
                        self._handle(message.event, message.data)
            except (httpx.HTTPError, ValueError, KeyError) as error:
                log.warning("grant stream from the broker broke (%s); reconnecting", type(error).__name__)
            await asyncio.sleep(0.5)

    async def refresh(self) -> None:
        """Read the active grants now (a token for a grant newer than the last stream event).

        Returns once a read that *started after the caller asked* has finished: kubectl's first command under a
        new grant sends its discovery requests in parallel, and returning early to those that found a read
        already under way (or just done) refused them as "not active". Reads are serialized and start at most
        every 100 ms, so a flood of tokens for unknown (e.g. revoked) grants costs the broker 10 reads a second,
        and each read answers every caller that was waiting for it.
        """
        asked = time.monotonic()
        async with self._refresh_lock:
            if self._refreshed > asked:
                return  # a read that started after we asked has finished while we waited for the lock
            await asyncio.sleep(max(0.0, self._refreshed + 0.1 - time.monotonic()))
            self._refreshed = time.monotonic()
            try:
                response = await self.pooled.get("/api/v1/gateway/grants", timeout=httpx.Timeout(2.0, connect=2.0))
                response.raise_for_status()
                self._handle("grants", response.text)
            except httpx.HTTPError as error:
                log.warning("could not read the active grants from the broker (%s)", type(error).__name__)

    def _handle(self, event: str, data: str) -> None:
        now = datetime.now(UTC)
        if event == "heartbeat":
            beat = json.loads(data)
            current = self.book.heartbeat(now, beat.get("digest"), beat.get("revision"))
            if not current and self._resync is None:
                # The book holds another snapshot than the broker's current one: read it again now.
                self._resync = asyncio.get_running_loop().create_task(self._read_again())
        elif event == "grants":
            snapshot = json.loads(data)
            wire = snapshot["grants"]
            grants = [ActiveGrant.from_wire(item) for item in wire]
            gone = self.book.replace(grants, now, snapshot_digest(wire), int(snapshot["revision"]))
            if gone is None:
                log.debug("ignored a snapshot of revision %s, older than the book's", snapshot["revision"])
                return
            self.on_listed({g.id for g in grants})
            for grant_id in gone:
                self.on_gone(grant_id, "the grant was revoked or ended")

    async def _read_again(self) -> None:
        try:
            await self.refresh()
        finally:
            self._resync = None

    # ---- activity ---------------------------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        """Queue an event for the broker, numbered in this process's sequence (gaps show on the audit trail)."""
        self._numbered += 1
        self._queue.append((time.monotonic(), {**event, "gatewaySeq": self._numbered}))

    def backlog(self) -> tuple[int, float]:
        """How many events wait for delivery, and how long the oldest has waited (seconds; 0 when none)."""
        return len(self._queue), (time.monotonic() - self._queue[0][0]) if self._queue else 0.0

    def ready(self) -> bool:
        """Whether requests may proceed: recorded activity is being delivered (always True when failing open)."""
        if not self.fail_closed or not self._queue:
            return True
        oldest = self._queue[0][0]
        return len(self._queue) < self.max_queue and time.monotonic() - oldest < self.max_delay.total_seconds()

    async def send_activity(self, interval: float = 0.3, batch: int = 500) -> None:
        """Deliver recorded activity every ``interval``, in batches; more at once only while full batches wait.

        Sending again as soon as a batch was delivered (whatever arrived meanwhile) made a POST for every one
        or two requests under steady load, which cost the gateway more CPU than serving the requests did."""
        size = batch
        while True:
            await asyncio.sleep(interval)
            try:
                size = await self.deliver(size, batch)
                await self.beat_if_idle()
            except Exception:  # the sender must not die quietly: a fail-closed gateway would then refuse forever
                log.exception("delivering activity failed unexpectedly; trying again")

    async def beat_if_idle(self) -> None:
        """Post an empty batch when nothing waits and nothing got through for ``heartbeat`` seconds: the broker
        hears that this process is alive (and its streams with it) even when nobody uses it."""
        if not self._queue and time.monotonic() - self._posted >= self.heartbeat:
            await self._post([])

    async def deliver(self, size: int, batch: int) -> int:
        """Send what is queued, ``size`` events a POST; return the size to use next time.

        A batch the broker refuses as too large or malformed is split in halves; a single event it refuses is
        dropped with an error in the log (it would never be accepted, and behind it nothing else would be)."""
        while self._queue:
            chunk = [event for _, event in itertools.islice(self._queue, size)]
            response = await self._post(chunk)
            if response is None:
                return size
            if response.status_code in (400, 413, 422):
                if len(chunk) > 1:
                    size = max(1, len(chunk) // 2)
                    log.warning("the broker refused %d activity events at once; sending %d a time", len(chunk), size)
                    continue
                self._queue.popleft()
                self.dropped += 1
                log.error(
                    "the broker refused an activity event (%s of grant %s), which is dropped: %s",
                    chunk[0].get("kind"),
                    chunk[0].get("grant"),
                    response.text[:300],
                )
                continue
            if response.is_error:
                return size
            for _ in chunk:
                self._queue.popleft()
            self.delivered += len(chunk)
            if size >= batch and len(self._queue) < batch:
                break  # the rest waits for the next tick (unless a split is still draining what was refused)
            size = min(batch, size * 2)
        return size

    async def _post(self, chunk: list[dict[str, Any]]) -> httpx.Response | None:
        """POST one batch (empty: a heartbeat); None when it did not reach the broker. A refusal is logged here
        only when it is not one that :meth:`deliver` handles by splitting the batch (400, 413, 422)."""
        try:
            response = await self.pooled.post(
                "/api/v1/gateway/activity", json=chunk, headers={"Kubejit-Gateway-Instance": self.instance}
            )
        except httpx.HTTPError as error:
            log.warning("could not deliver %d activity events (%s)", len(chunk), type(error).__name__)
            self.failed_batches += 1
            return None
        if not response.is_error:
            self._posted = time.monotonic()
        elif response.status_code not in (400, 413, 422) or not chunk:
            log.warning("could not deliver %d activity events (HTTP %d)", len(chunk), response.status_code)
            self.failed_batches += 1
        return response
