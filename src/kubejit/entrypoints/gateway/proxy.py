"""The gateway's HTTP/1.1 connection handler: every request is authenticated, checked against its grant, and
forwarded to kube-apiserver as the user (impersonation) with the gateway's own credentials.

Clients are read with h11 (strict HTTP/1.1 framing) over asyncio streams. This module reads requests and
composes the parts that do the rest: the header policy (``_headers``: credentials and hop-by-hop tricks),
authentication (``services.gateway_authentication``), the grant check (``services.gateway_access``), plain
forwarding (``_forwarding``; a watch's stream recorded at its start and its end, as a session), upgrades
(``_upgrade``), the registry of open streams (``services.gateway_sessions``) and the gateway's own ``Status``
answers (``_status``); each request's latency,
upstream failures, open sessions and guardrail denials go to the gateway's metrics (``adapters.metrics``).
``main.py`` builds a :class:`Gateway` and :func:`serve` runs it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import h11

from kubejit.adapters.kube.upstream import READ_SIZE, Upstream
from kubejit.adapters.metrics import GatewayMetrics
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import InvalidInput, KubejitError, Unavailable
from kubejit.domain.pod_commands import RequestBody, writes_pod_commands
from kubejit.domain.requestinfo import RequestAttributes, parse_request
from kubejit.entrypoints.gateway._anonymous import AnonymousRefusals
from kubejit.entrypoints.gateway._forwarding import ResponseBroken, forward
from kubejit.entrypoints.gateway._headers import bearer_token, check_headers, forward_headers
from kubejit.entrypoints.gateway._status import refusal_for, send_status
from kubejit.entrypoints.gateway._upgrade import Emit, record_session_start, splice_upgrade
from kubejit.services.gateway_access import GatewayAccess, GuardrailRefusal
from kubejit.services.gateway_authentication import Identity
from kubejit.services.gateway_sessions import Sessions

# Above this query size the access decision runs on a worker thread (see _serve_request); below, inline (cheaper).
# A pod-writing request whose body was read is always decided on one: a body far under any size threshold can hold
# many containers, hooks and probes, each an exec analysis (0.65 s for 64 KiB of short pathological lines).
HEAVY_QUERY_BYTES = 2048

log = logging.getLogger("kubejit.gateway")

MAX_REQUEST_BODY = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024

Authenticate = Callable[[str, datetime], Identity]


def _request_read(connection: h11.Connection) -> bool:
    """Whether the client's request has been read to its end, taking the end of a body-less request (already
    received: no I/O). A refused request's body is never read, so a request with one ends its connection."""
    if connection.their_state is h11.SEND_BODY:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return False
        if not isinstance(event, h11.EndOfMessage):
            return False
    return connection.their_state is h11.DONE


async def _next_event(connection: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(READ_SIZE))
            continue
        return event


async def _read_body(connection: h11.Connection, reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        event = await _next_event(connection, reader)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_REQUEST_BODY:
                raise InvalidInput(f"the request body is larger than {MAX_REQUEST_BODY} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        else:
            raise InvalidInput("the request ended early")


@dataclass(kw_only=True, eq=False)
class Gateway:
    """Serves client connections; one instance per gateway process."""

    access: GatewayAccess
    authenticate: Authenticate
    upstream: Upstream
    emit: Emit
    sessions: Sessions
    now: Callable[[], datetime]
    audit_ready: Callable[[], bool] = lambda: True
    refresh_grants: Callable[[], Awaitable[None]] | None = None
    anonymous: AnonymousRefusals = field(default_factory=AnonymousRefusals)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            while True:
                try:
                    event = await _next_event(connection, reader)
                except h11.RemoteProtocolError as error:
                    await send_status(writer, connection, 400, "BadRequest", f"malformed HTTP: {error}", close=True)
                    return
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    return
                if not isinstance(event, h11.Request):
                    return
                keep_going = await self._serve_request(connection, event, reader, writer)
                next_connection = _next_cycle(connection) if keep_going else None
                if next_connection is None:
                    return
                connection = next_connection
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        except Exception:
            log.exception("gateway connection failed")
        finally:
            writer.close()

    async def _serve_request(
        self,
        connection: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        started = time.monotonic()
        method = request.method.decode("ascii", "replace")
        target = request.target.decode("ascii", "replace")
        path, _, query = target.partition("?")
        headers = [(name.lower(), value) for name, value in request.headers]
        record: dict[str, Any] = {"kind": AuditKind.ACTIVITY_REQUEST, "method": method, "path": path}
        upgrade: bytes | None = None
        body: bytes | None = None
        attrs: RequestAttributes | None = None
        try:
            upgrade, client_closes = check_headers(headers)
            attrs = parse_request(method, path, query, upgrade=upgrade is not None)
            record.update(_describe(attrs))
            if not self.audit_ready():
                raise Unavailable("the gateway cannot record activity right now and refuses requests until it can")
            identity = self.authenticate(bearer_token(headers), self.now())
            record["user"] = identity.user
            if identity.grant_id:
                record["grant"] = identity.grant_id
            if (
                identity.grant_id is not None
                and identity.grant_id not in self.access.book.grants
                and self.refresh_grants is not None
            ):
                await self.refresh_grants()  # a grant newer than the stream's last word: ask the broker now
            if (
                upgrade is None
                and writes_pod_commands(attrs)
                and self.access.holds_grant(identity.grant_id, identity.user)
            ):
                # It may set what a container runs: the exec guardrail decides on the body. Every other request
                # (and this one from a caller without a grant) is decided before its body is read.
                body = await _read_body(connection, reader)
            decide = partial(
                self.access.authorize,
                attrs,
                self.now(),  # after the awaits above (a refresh, a body read): the grant may have ended meanwhile
                grant_id=identity.grant_id,
                user=identity.user,
                groups=identity.groups,
                body=None if body is None else _request_body(body, headers),
            )
            # A long command line or a pod body takes the exec analysis milliseconds (bounded by its caps and step
            # budget): decided on a worker thread, so the other connections keep being served meanwhile.
            heavy = len(query) > HEAVY_QUERY_BYTES or body is not None
            allowed = await asyncio.to_thread(decide) if heavy else decide()
            record["grant"] = allowed.grant.id
            forwarded = forward_headers(headers, allowed, upgrade, self.upstream)
            if body is None:
                body = await _read_body(connection, reader) if upgrade is None else b""
        except KubejitError as error:
            code, reason = refusal_for(error)
            record.update({"kind": AuditKind.ACTIVITY_REFUSED, "status": code, "reason": str(error)})
            if isinstance(error, GuardrailRefusal):
                record.update({"profile": error.profile, "guardrail": error.rule})  # counted by the broker too
                self.metrics.guardrail_denied(error.profile, error.rule)
            self._record(record, started, attrs)
            if "user" not in record:
                self.anonymous.note(reason, _peer(writer), str(error))
            # Keep the connection only when the refused request was read to its end: a client reuses a
            # kept-alive connection at once (kubectl apply: a refused GET, then a POST that Go will not retry),
            # so closing one after a response that did not say `Connection: close` loses its next request.
            # Malformed requests and refused upgrades always end the connection (CVE-2018-1002105).
            keep = code != 400 and upgrade is None and _request_read(connection)
            await send_status(writer, connection, code, reason, str(error), close=not keep)
            return keep
        # A stream lives as long as its grant: the token that opened it only has to be valid when it opens
        # (a 5-minute token must not cut a 30-minute exec session), as kube-apiserver does with bearer tokens.
        deadline = allowed.grant.ends_at.timestamp()
        if upgrade is not None:
            await self._session(
                attrs.subresource,
                splice_upgrade(
                    self.upstream,
                    self.sessions,
                    self.access.book,
                    self.emit,
                    connection,
                    request,
                    forwarded,
                    reader,
                    writer,
                    allowed,
                    attrs,
                    record,
                    deadline,
                ),
            )
            self._record(record, started, attrs)
            return False
        forwarding = forward(
            self.upstream,
            self.sessions,
            connection,
            request,
            forwarded,
            body,
            writer,
            allowed,
            deadline,
            client_closes=client_closes,
            on_stream=partial(record_session_start, self.emit, record) if attrs.verb == "watch" else None,
            client_gone=partial(_client_gone, reader, writer),
        )
        return await self._forwarded(forwarding, record, started, attrs)

    async def _forwarded(
        self,
        forwarding: Awaitable[tuple[int, int, bool]],
        record: dict[str, Any],
        started: float,
        attrs: RequestAttributes,
    ) -> bool:
        """Await :func:`forward` and record the request: a watch whose stream began (its start recorded, with a
        ``session`` id) is recorded as that session's end, however it ended; whether to keep the connection."""
        try:
            status, size, keep_alive = await self._upstream_counted(forwarding)
        except ResponseBroken as broken:
            if "session" in record:
                record.update({"status": broken.status, "phase": "end", "closed": broken.closed})
                self._record(record, started, attrs)
            raise
        if "session" in record:
            record.update({"phase": "end", "closed": "ended by kube-apiserver"})
        record.update({"status": status, "bytes": size})
        self._record(record, started, attrs)
        return keep_alive

    async def _upstream_counted(self, forwarding: Awaitable[tuple[int, int, bool]]) -> tuple[int, int, bool]:
        """Await :func:`forward`, counting kube-apiserver's failures."""
        try:
            status, size, keep_alive = await forwarding
        except ConnectionError:
            self.metrics.upstream_error("mid-response")
            raise
        if status == 502:
            self.metrics.upstream_error("unreachable")
        return status, size, keep_alive

    async def _session(self, kind: str, splicing: Awaitable[None]) -> None:
        """Await :func:`splice_upgrade`, counted as an open session while it lasts."""
        self.metrics.session_opened(kind)
        try:
            await splicing
        except (OSError, KubejitError):
            self.metrics.upstream_error("upgrade")
            raise
        finally:
            self.metrics.session_closed(kind)

    def _record(self, record: dict[str, Any], started: float, attrs: RequestAttributes | None) -> None:
        seconds = time.monotonic() - started
        record["durationMs"] = round(seconds * 1000, 2)
        self.metrics.request_served(
            verb=attrs.verb if attrs else None,
            resource=attrs.resource if attrs else None,
            subresource=attrs.subresource if attrs else None,
            api_group=attrs.api_group if attrs else None,
            is_resource=attrs.is_resource_request if attrs else False,
            status=int(record.get("status", 0)),
            seconds=seconds,
        )
        if "user" in record:
            self.emit(record)


def _client_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Whether the client closed its side: its end of the stream read (a FIN), a reset, or the transport closed.
    Nothing is read: bytes a client sent after its request stay for the next one. A client that only shut its
    sending side counts as gone too, as kube-apiserver (Go's net/http) counts it."""
    return reader.at_eof() or reader.exception() is not None or writer.transport.is_closing()


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "an unknown address"


def _request_body(data: bytes, headers: list[tuple[bytes, bytes]]) -> RequestBody:
    """The body with the headers that say how to read it: the first Content-Type (what Go's Header.Get gives
    kube-apiserver) and every Content-Encoding."""
    content_type = next((value for name, value in headers if name == b"content-type"), b"")
    encodings = b",".join(value for name, value in headers if name == b"content-encoding")
    return RequestBody(data, content_type.decode("latin-1"), encodings.decode("latin-1"))


def _describe(attrs: RequestAttributes) -> dict[str, Any]:
    return {
        "verb": attrs.verb,
        "apiGroup": attrs.api_group,
        "resource": attrs.resource_path,
        "namespace": attrs.namespace,
        "name": attrs.name,
    }


async def serve(
    gateway: Gateway,
    host: str,
    port: int,
    context: ssl.SSLContext,
    started: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    server = await asyncio.start_server(gateway.serve_connection, host, port, ssl=context, limit=READ_SIZE * 4)
    bound = server.sockets[0].getsockname()[1]
    if started is not None:
        await started(bound)
    async with server:
        await server.serve_forever()


def _next_cycle(connection: h11.Connection) -> h11.Connection | None:
    """The parser for the connection's next request, or None when the connection must end."""
    if connection.their_state is not h11.DONE:
        return None
    if connection.our_state is h11.DONE:  # the gateway's own answer, sent through h11
        connection.start_next_cycle()
        return connection
    if connection.our_state is h11.SEND_RESPONSE:
        # A forwarded response, framed by the gateway (response_framing): a fresh parser for the next request,
        # given whatever of it has already arrived.
        leftover, _ = connection.trailing_data
        fresh = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        if leftover:
            fresh.receive_data(bytes(leftover))
        return fresh
    return None
