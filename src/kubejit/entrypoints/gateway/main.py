"""``kubejit gateway --config FILE``: run the gateway until SIGINT/SIGTERM.

Every part comes from :func:`kubejit.bootstrap.build_gateway` (policy, grant book, access check, open-stream
registry, broker link, kube-apiserver client, authentication); this module puts the proxy on top of them,
starts the link's tasks and the loop that cuts streams at a grant's end, and serves HTTPS; with a ``metrics``
section in the config it also serves ``/metrics``, ``/healthz`` and ``/readyz`` on a listener of their own
(``_monitoring``). The CLI (``entrypoints/cli/gateway.py``) calls :func:`main`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

if sys.platform != "win32":  # uvloop has no Windows build; the gateway runs on Linux
    import uvloop

from kubejit.adapters.broker_link import BrokerLink
from kubejit.adapters.metrics import GatewayMetrics, GatewayView
from kubejit.bootstrap import GatewayParts, build_gateway
from kubejit.config import GatewayConfig
from kubejit.domain.grant_book import GrantBook
from kubejit.entrypoints.gateway import Gateway, Sessions, serve
from kubejit.entrypoints.gateway._anonymous import AnonymousRefusals
from kubejit.entrypoints.gateway._monitoring import Monitoring, serve_monitoring

log = logging.getLogger("kubejit.gateway")


def _serving_tls(config: GatewayConfig) -> ssl.SSLContext:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(config.listen.tls_cert_file), str(config.listen.tls_key_file))
    tls.set_alpn_protocols(["http/1.1"])  # kubectl then speaks HTTP/1.1, which upgrades need
    return tls


async def _public_keys(link: BrokerLink) -> dict[str, Any]:
    while True:
        try:
            return await link.public_keys()
        except Exception as error:  # the broker may start after the gateway: keep trying
            log.warning("waiting for the broker's public keys: %s", error)
            await asyncio.sleep(1)


async def _cut_off_loop(
    sessions: Sessions, book: GrantBook, now: Callable[[], datetime], anonymous: AnonymousRefusals
) -> None:
    """Close open streams whose grant's time is up, and all of them while the broker is silent too long; report
    refusals of unknown callers that are due."""

    def grant_end(grant_id: str) -> float | None:
        grant = book.grants.get(grant_id)
        return grant.ends_at.timestamp() if grant is not None else None

    while True:
        sessions.close_due(time.time(), grant_end)
        if sessions.streams and not book.fresh(now()):
            # Fail closed for open streams too: a revoke may be what the silent broker cannot tell us.
            closed = sessions.close_all("the broker has been silent too long to tell whether the grant is active")
            log.warning("closed %d open stream(s): the broker has been silent longer than maxStaleness", closed)
        if anonymous.due():
            anonymous.flush()
        await asyncio.sleep(0.1)


def gateway_metrics(parts: GatewayParts) -> GatewayMetrics:
    """The gateway's registry, reading the book, the open streams and the link's backlog at scrape time."""
    book, link, now = parts.book, parts.link, parts.clock.now

    def book_age() -> float | None:
        return (now() - book.heard_at).total_seconds() if book.heard_at is not None else None

    view = GatewayView(
        book_age=book_age,
        book_fresh=lambda: book.fresh(now()),
        grants=lambda: len(book.grants),
        open_streams=lambda: len(parts.sessions.streams),
        activity_queued=lambda: link.backlog()[0],
        activity_oldest=lambda: link.backlog()[1],
        activity_delivered=lambda: link.delivered,
        activity_dropped=lambda: link.dropped,
        activity_failed_batches=lambda: link.failed_batches,
    )
    policy = parts.policy
    return GatewayMetrics(
        view,
        profiles=lambda: {p.name for p in policy.profiles},
        guardrails=lambda: set(policy.guardrails),
    )


def _readiness(parts: GatewayParts, keys: dict[str, Any]) -> tuple[bool, str]:
    if not keys:
        return False, "not ready: waiting for the broker's public keys"
    if not parts.book.fresh(parts.clock.now()):
        return False, "not ready: the broker has not been heard from within maxStaleness"
    if not parts.link.ready():
        return False, "not ready: recorded activity is not being delivered to the broker"
    return True, "ready"


async def _monitoring(parts: GatewayParts, metrics: GatewayMetrics, keys: dict[str, Any]) -> asyncio.Server | None:
    settings = parts.config.metrics
    if settings is None:
        return None
    monitoring = Monitoring(metrics.registry, lambda: _readiness(parts, keys))
    server = await serve_monitoring(monitoring, settings.address, settings.port)
    log.info("kubejit gateway metrics on http://%s:%d/metrics", settings.address, server.sockets[0].getsockname()[1])
    return server


async def run(config: GatewayConfig, *, on_ready: Callable[[int], None] | None = None) -> None:
    parts = build_gateway(config)
    metrics = gateway_metrics(parts)
    keys: dict[str, Any] = {}
    monitor = await _monitoring(parts, metrics, keys)
    try:
        await _serve(parts, metrics, keys, on_ready)
    finally:
        if monitor is not None:
            monitor.close()


async def _serve(
    parts: GatewayParts, metrics: GatewayMetrics, keys: dict[str, Any], on_ready: Callable[[int], None] | None
) -> None:
    config, link, sessions = parts.config, parts.link, parts.sessions
    keys.update(await _public_keys(link))
    authentication = parts.authentication(keys)
    gateway = Gateway(
        access=parts.access,
        authenticate=authentication.authenticate,
        upstream=parts.upstream,
        emit=link.emit,
        sessions=sessions,
        now=parts.clock.now,
        audit_ready=link.ready,
        refresh_grants=link.refresh,
        metrics=metrics,
    )
    background = [
        asyncio.ensure_future(link.follow_grants()),
        asyncio.ensure_future(link.send_activity()),
        asyncio.ensure_future(_cut_off_loop(sessions, parts.book, parts.clock.now, gateway.anonymous)),
    ]

    async def started(port: int) -> None:
        log.info("kubejit gateway serving on https://%s:%d", config.listen.address, port)
        if on_ready is not None:
            on_ready(port)

    try:
        await serve(gateway, config.listen.address, config.listen.port, _serving_tls(config), started)
    finally:
        for task in background:
            task.cancel()
        with suppress(Exception):
            await asyncio.gather(*background, return_exceptions=True)
        await link.aclose()


def main(config: GatewayConfig) -> None:
    # uvloop (libuv, and its own TLS transport) where it exists: the gateway's cost per request is mostly the
    # event loop and TLS on both sides, and uvloop roughly halves it (bench/gateway.py).
    loop = uvloop.new_event_loop() if sys.platform != "win32" else asyncio.new_event_loop()
    # A long exec command line is checked on a worker thread (proxy.HEAVY_QUERY_BYTES): a short switch interval
    # hands the interpreter back to the event loop often, so other connections wait ~1 ms, not 5, per slice.
    sys.setswitchinterval(0.001)
    task = loop.create_task(run(config))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with suppress(asyncio.CancelledError):
        loop.run_until_complete(task)
    loop.close()
