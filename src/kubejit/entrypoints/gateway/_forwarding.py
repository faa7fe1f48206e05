"""Forwarding one plain (non-upgrade) request to kube-apiserver and streaming its response back.

The connection handler calls :func:`forward` once a request has been checked and its body read. The response
is passed on as it arrives (a watch is never buffered), and the exchange is registered with its grant for as
long as it lasts, so a revoke or the grant's end cuts a watch off mid-stream. The handler hears when a
successful answer turns out to be a stream (``on_stream``: it records a watch's start there) and how a
response that broke off ended (:class:`ResponseBroken`: it records the watch's end). While a stream lasts, a
watchdog (:func:`watch_client`) asks every :data:`CLIENT_CHECK_SECONDS` whether the client went away
(``client_gone``), so the watch of a kubectl that was stopped ends then, not at its next event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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
    (asked while such a stream lasts)."""
    try:
        upstream = await pool.acquire()
    except Unavailable as error:
        await send_status(writer, connection, 502, "BadGateway", str(error))
        return 502, 0, True
    ending = _Ending(upstream)
    key = sessions.add(allowed.grant.id, deadline, partial(ending.end, grant_ended=True))
    sent = responded = False
    watchdog: asyncio.Task[None] | None = None
    try:
        if ending.grant_ended:
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
        if client_gone is not None and framing.streamed:
            watchdog = asyncio.ensure_future(watch_client(client_gone, partial(ending.end, CLIENT_LEFT)))
        size = await _relay(upstream, framing, head, writer)
        pool.release(upstream)
        return upstream.status, size, framing.keep_alive
    except (ConnectionError, h11.ProtocolError, OSError, asyncio.IncompleteReadError) as error:
        upstream.close()
        if not responded:
            code, reason, message = _failure(allowed.grant.id, ending.grant_reason, sent, error)
            await send_status(writer, connection, code, reason, message)
            return code, 0, True
        if ending.grant_ended:
            writer.close()  # the grant ended mid-stream: cut the client off too
        raise ResponseBroken(
            upstream.status, ending.reason or f"the connection broke ({type(error).__name__})"
        ) from error
    finally:
        sessions.remove(key)
        if watchdog is not None:
            watchdog.cancel()


@dataclass
class _Ending:
    """Why an exchange was ended from outside, if it was: its grant's cut-off (a revoke, the end time) or its
    client gone. The first reason stays; either way the leg to kube-apiserver is closed, which ends the relay."""

    upstream: UpstreamConnection
    reason: str | None = None
    grant_ended: bool = False

    def end(self, reason: str, *, grant_ended: bool = False) -> None:
        if self.reason is None:
            self.reason, self.grant_ended = reason, grant_ended
        self.upstream.close()

    @property
    def grant_reason(self) -> str | None:
        return self.reason if self.grant_ended else None


async def watch_client(client_gone: Callable[[], bool], leave: Callable[[], None]) -> None:
    """Ask every :data:`CLIENT_CHECK_SECONDS` whether the client of a stream is gone; once it is, ``leave``
    (close the leg to kube-apiserver, which ends the relay) and stop. Cancelled when the stream ends first."""
    while True:
        await asyncio.sleep(CLIENT_CHECK_SECONDS)
        if client_gone():
            leave()
            return


async def _relay(
    upstream: UpstreamConnection, framing: ResponseFraming, head: bytes, writer: asyncio.StreamWriter
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
        await upstream.read_more()


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
