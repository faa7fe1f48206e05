"""Forwarding one plain (non-upgrade) request to kube-apiserver and streaming its response back.

The connection handler calls :func:`forward` once a request has been checked and its body read. The response
is passed on as it arrives (a watch is never buffered), and the exchange is registered with its grant for as
long as it lasts, so a revoke or the grant's end cuts a watch off mid-stream. The handler hears when a
successful answer turns out to be a stream (``on_stream``: it records a watch's start there) and how a
response that broke off ended (:class:`ResponseBroken`: it records the watch's end). A quiet stream (a watch with
no events) is checked every :data:`CLIENT_CHECK_SECONDS` for a client that went away (``client_gone``), so the
watch of a kubectl that was stopped ends then, not at the next event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

import h11

from kubejit.adapters.kube.upstream import Upstream, UpstreamConnection
from kubejit.domain.errors import Unavailable
from kubejit.domain.grant_book import not_active
from kubejit.entrypoints.gateway._headers import Headers, response_headers
from kubejit.entrypoints.gateway._status import send_status
from kubejit.entrypoints.gateway.response_framing import ResponseFraming
from kubejit.services.gateway_access import Allowed
from kubejit.services.gateway_sessions import Sessions

CLIENT_CHECK_SECONDS = 2.0
CLIENT_LEFT = "the client left"


class ResponseBroken(ConnectionError):
    """The response broke off after its head was passed on: the grant's cut-off, the client gone, or
    kube-apiserver gone. ``status`` is what the head said; ``closed`` says why, for the record."""

    def __init__(self, status: int, closed: str) -> None:
        super().__init__(f"upstream failed mid-response ({closed})")
        self.status = status
        self.closed = closed


async def forward(
    pool: Upstream,
    sessions: Sessions,
    connection: h11.Connection,
    request: h11.Request,
    headers: Headers,
    body: bytes,
    writer: asyncio.StreamWriter,
    allowed: Allowed,
    deadline: float,
    *,
    client_closes: bool,
    on_stream: Callable[[int], None] | None = None,
    client_gone: Callable[[], bool] | None = None,
) -> tuple[int, int, bool]:
    """Forward the request and stream the response back; (status, body bytes, whether to keep the
    connection). ``on_stream`` is called with the status before the body when the answer is a success whose
    body has no announced length (a watch's stream); ``client_gone`` says whether the client has closed its side
    (asked while such a stream is quiet)."""
    try:
        upstream = await pool.acquire()
    except Unavailable as error:
        await send_status(writer, connection, 502, "BadGateway", str(error))
        return 502, 0, True
    cut: asyncio.Event = asyncio.Event()
    why = {"reason": ""}

    def cut_off(reason: str) -> None:
        why["reason"] = reason
        cut.set()
        upstream.close()

    key = sessions.add(allowed.grant.id, deadline, cut_off)
    sent = responded = False
    try:
        if cut.is_set():
            raise ConnectionError("the grant ended before the request was sent")
        await upstream.send_request(request.method, request.target, headers, body)
        sent = True
        await upstream.read_head()
        if upstream.status == 101:
            raise ConnectionError("kube-apiserver switched protocols on a request that asked for no upgrade")
        out_headers = response_headers(upstream.headers, allowed.decision.warnings)
        framing = ResponseFraming(
            head_request=request.method == b"HEAD",
            http_10=request.http_version == b"1.0",
            client_closes=client_closes,
        )
        head = framing.head(upstream.status, upstream.reason, out_headers)
        if on_stream is not None and framing.streamed and 200 <= upstream.status < 300:
            on_stream(upstream.status)
        responded = True
        watching = client_gone if framing.streamed else None
        size = await _relay(upstream, framing, head, writer, watching)
        pool.release(upstream)
        return upstream.status, size, framing.keep_alive
    except (ConnectionError, h11.ProtocolError, OSError, asyncio.IncompleteReadError) as error:
        upstream.close()
        if not responded:
            code, reason, message = _failure(allowed.grant.id, why["reason"] if cut.is_set() else None, sent, error)
            await send_status(writer, connection, code, reason, message)
            return code, 0, True
        if cut.is_set():
            writer.close()  # the grant ended mid-stream: cut the client off too
            raise ResponseBroken(upstream.status, why["reason"]) from error
        if isinstance(error, _ClientLeft):
            raise ResponseBroken(upstream.status, CLIENT_LEFT) from error
        raise ResponseBroken(upstream.status, f"the connection broke ({type(error).__name__})") from error
    finally:
        sessions.remove(key)


class _ClientLeft(ConnectionError):
    """The client closed its side while its stream was quiet."""


async def _relay(
    upstream: UpstreamConnection,
    framing: ResponseFraming,
    head: bytes,
    writer: asyncio.StreamWriter,
    client_gone: Callable[[], bool] | None,
) -> int:
    """Pass the response on as it arrives; the number of body bytes.

    What has arrived is passed on in one write, and written before waiting for more: a small response (head,
    body, end) costs one TLS record and one system call, and a watch still streams each event as it comes.
    """
    pending = [head]
    size = 0
    while True:
        data = upstream.take_body()
        size += len(data)
        pending.append(framing.data(data))
        if upstream.complete:
            pending.append(framing.end())
        writer.write(b"".join(pending))
        pending.clear()
        await writer.drain()
        if upstream.complete:
            return size
        if client_gone is None:
            await upstream.read_more()
        else:
            await _read_while_client_stays(upstream, client_gone)


async def _read_while_client_stays(upstream: UpstreamConnection, client_gone: Callable[[], bool]) -> None:
    """``upstream.read_more()``, asking every :data:`CLIENT_CHECK_SECONDS` whether the client is still there."""
    reading = asyncio.ensure_future(upstream.read_more())
    try:
        while not (await asyncio.wait({reading}, timeout=CLIENT_CHECK_SECONDS))[0]:
            if client_gone():
                raise _ClientLeft(CLIENT_LEFT)
        reading.result()
    finally:
        if not reading.done():
            reading.cancel()
            with suppress(asyncio.CancelledError):
                await reading


def _failure(grant_id: str, cut_reason: str | None, sent: bool, error: BaseException) -> tuple[int, str, str]:
    """The answer to a request whose upstream leg failed before any response: a plain 502, unless the grant was
    cut off (``cut_reason``): before sending, the grant is simply not active; after, the outcome is unknown."""
    if cut_reason is None:
        return 502, "BadGateway", f"kube-apiserver: {error}"
    if not sent:
        return 403, "Forbidden", not_active(grant_id, cut_reason)
    return (
        502,
        "BadGateway",
        f"grant {grant_id} ended ({cut_reason}) while kube-apiserver was answering: "
        "the request may have been carried out; check before repeating it",
    )
