"""``kubejit gateway --config FILE``: run the gateway until SIGINT/SIGTERM.

Every part comes from :func:`kubejit.bootstrap.build_gateway` (policy, grant book, access check, open-stream
registry, broker link, kube-apiserver client, authentication); this module puts the proxy on top of them,
starts the link's tasks and the loop that cuts streams at a grant's end, and serves HTTPS. The CLI
(``entrypoints/cli/gateway.py``) calls :func:`main`.
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
from kubejit.bootstrap import build_gateway
from kubejit.config import GatewayConfig
from kubejit.domain.grant_book import GrantBook
from kubejit.entrypoints.gateway import Gateway, Sessions, serve
from kubejit.entrypoints.gateway._anonymous import AnonymousRefusals

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


async def run(config: GatewayConfig, *, on_ready: Callable[[int], None] | None = None) -> None:
    parts = build_gateway(config)
    link, sessions = parts.link, parts.sessions
    authentication = parts.authentication(await _public_keys(link))
    gateway = Gateway(
        access=parts.access,
        authenticate=authentication.authenticate,
        upstream=parts.upstream,
        emit=link.emit,
        sessions=sessions,
        now=parts.clock.now,
        audit_ready=link.ready,
        refresh_grants=link.refresh,
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
