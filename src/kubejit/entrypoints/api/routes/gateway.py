"""The routes that serve kubejit gateways: where the gateway is (for ``kubejit kubeconfig``), the keys that
verify grant tokens, the active grants (read once or streamed) and the gateways' activity for the audit trail.

A gateway authenticates with the shared secret (``GatewayCaller``); the gateway info is for people (``Caller``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header
from fastapi.responses import Response, StreamingResponse

from kubejit.domain.errors import NotFound
from kubejit.domain.grant_book import snapshot_digest
from kubejit.entrypoints.api.body_limit import ACTIVITY_PATH
from kubejit.entrypoints.api.dependencies import NO_GATEWAY, BrokerDep, Caller, Feed, GatewayCaller
from kubejit.services.gateway_feed import GatewayFeed

STREAM_INTERVAL = 0.25

router = APIRouter()


@router.get("/api/v1/gateway/info")
def gateway_info(_: Caller, broker: BrokerDep) -> dict[str, object]:
    """Where the gateway is, and the CA of its certificate, for `kubejit kubeconfig`."""
    link = broker.config.gateway
    if link is None:
        raise NotFound(NO_GATEWAY)
    ca = base64.b64encode(link.ca_file.read_bytes()).decode() if link.ca_file else None
    return {"url": link.url, "certificateAuthorityData": ca}


@router.get("/.well-known/kubejit-gateway-keys", include_in_schema=False)
def gateway_keys(feed: Feed) -> dict[str, object]:
    return feed.public_keys


@router.get("/api/v1/gateway/grants")
def gateway_grants(_: GatewayCaller, feed: Feed) -> dict[str, Any]:
    """The active grants and the audit revision they were read at (see GatewayFeed.active_grants)."""
    return feed.active_grants()


@router.get("/api/v1/gateway/grants/stream", response_class=StreamingResponse)
async def gateway_grants_stream(_: GatewayCaller, feed: Feed) -> StreamingResponse:
    """Server-sent events: the active grants when they change, otherwise a heartbeat with their digest.

    Both go out every STREAM_INTERVAL. The digest lets a gateway whose book differs from this snapshot
    (it also installs snapshots it reads on demand, which may be older, or hold a grant this stream never
    showed) read the grants again at once."""
    return StreamingResponse(_grant_events(feed), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def _grant_events(source: GatewayFeed) -> AsyncIterator[bytes]:
    last: str | None = None
    while True:
        snapshot = await anyio.to_thread.run_sync(source.active_grants)
        text = json.dumps(snapshot["grants"], sort_keys=True)
        if text != last:
            yield f"event: grants\ndata: {json.dumps(snapshot, sort_keys=True)}\n\n".encode()
            last = text
        else:
            beat = {"digest": snapshot_digest(snapshot["grants"]), "revision": snapshot["revision"]}
            yield f"event: heartbeat\ndata: {json.dumps(beat)}\n\n".encode()
        await anyio.sleep(STREAM_INTERVAL)


@router.post(ACTIVITY_PATH, status_code=204)
def gateway_activity(
    events: list[dict[str, Any]],
    gateway: GatewayCaller,
    feed: Feed,
    instance: Annotated[str | None, Header(alias="Kubejit-Gateway-Instance")] = None,
) -> Response:
    """Record a batch of a gateway's activity; events it numbered and already sent are not recorded twice."""
    feed.record_activity(gateway, events, instance)
    return Response(status_code=204)
