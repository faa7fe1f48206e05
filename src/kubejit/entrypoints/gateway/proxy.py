"""The gateway's HTTP/1.1 proxy: every request is authenticated, checked against its grant, and forwarded to
kube-apiserver as the user (impersonation) with the gateway's own credentials.

Clients are read with h11 (strict HTTP/1.1 framing) over asyncio streams; kube-apiserver is reached through
``upstream.py``. Before anything else, a request's
``Authorization`` and ``Impersonate-*`` headers are discarded and a ``Connection`` header naming any other
header is refused (hop-by-hop smuggling: ``Connection: Impersonate-User``). Bodies of responses are streamed as
they arrive (watches are never buffered); upgrades (WebSocket and SPDY for exec, attach and port-forward) are
checked before the upgrade and then spliced byte for byte. Every long-lived stream is registered with its
grant so it is closed when the grant ends or is revoked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import h11

from kubejit.domain.errors import InvalidInput, KubejitError, Unauthenticated, Unavailable, meaning_of
from kubejit.domain.requestinfo import RequestAttributes, parse_request
from kubejit.entrypoints.gateway.recorder import FrameReader, SessionRecord
from kubejit.entrypoints.gateway.response_framing import ResponseFraming, header_text
from kubejit.entrypoints.gateway.upstream import READ_SIZE, Upstream, header_safe
from kubejit.services.gateway_access import Allowed, GatewayAccess, not_active

log = logging.getLogger("kubejit.gateway")

MAX_REQUEST_BODY = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"expect",  # the gateway reads the whole body before it forwards: nothing upstream waits for a 100
    }
)
_HOP_BY_HOP_RESPONSE = _HOP_BY_HOP - {b"content-length"}
_CONNECTION_TOKENS = frozenset({"keep-alive", "close", "upgrade"})
_STRIPPED_PREFIXES = (b"impersonate-", b"x-remote-")


@dataclass(frozen=True)
class Identity:
    user: str
    groups: frozenset[str]
    grant_id: str | None  # None for an OIDC ID token: any of the user's grants that covers the request


Authenticate = Callable[[str, datetime], Identity]
Emit = Callable[[dict[str, Any]], None]


def status_body(code: int, reason: str, message: str) -> bytes:
    """A Kubernetes ``Status``, which kubectl prints as the error."""
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


def refusal_for(error: KubejitError) -> tuple[int, str]:
    """The status code and Kubernetes ``Status`` reason of a refusal, from the one error table."""
    meaning = meaning_of(error)
    return meaning.http_status, meaning.status_reason


@dataclass
class Sessions:
    """Long-lived streams by grant, closed when their grant ends or is revoked (or the broker falls silent)."""

    streams: dict[int, tuple[str, float, Callable[[str], None]]] = field(default_factory=dict)
    ended: dict[str, str] = field(default_factory=dict)  # grants already closed, with the reason (newest last)
    max_ended: int = 100_000
    _next: int = 0

    def add(self, grant_id: str, deadline: float, close: Callable[[str], None]) -> int:
        """Register a stream. A grant that ended between the request's check and this call (the check and the
        registration are separated by the await that reaches kube-apiserver) has its stream closed at once,
        or it would escape the cut-off that already ran."""
        self._next += 1
        if grant_id in self.ended:
            close(self.ended[grant_id])
        else:
            self.streams[self._next] = (grant_id, deadline, close)
        return self._next

    def remove(self, key: int) -> None:
        self.streams.pop(key, None)

    def listed(self, grant_ids: set[str]) -> None:
        """The broker lists these grants as active in a snapshot not older than the one that ended them (an
        extension that raced the end): they are no longer ended."""
        for grant_id in grant_ids & self.ended.keys():
            del self.ended[grant_id]

    def close_all(self, reason: str) -> int:
        return self._close(list(self.streams), reason)

    def close_grant(self, grant_id: str, reason: str) -> int:
        self.ended[grant_id] = reason
        if len(self.ended) > self.max_ended:
            self.ended.pop(next(iter(self.ended)))
        return self._close([k for k, (g, _, _) in self.streams.items() if g == grant_id], reason)

    def close_due(self, now: float, current_end: Callable[[str], float | None] = lambda _grant: None) -> int:
        """Close the streams whose grant's time is up: its current end (an extension moves it) when known,
        else the end it had when the stream opened."""
        due = []
        for key, (grant, opened_with, _) in self.streams.items():
            end = current_end(grant)
            if (opened_with if end is None else end) <= now:
                due.append(key)
        return self._close(due, "the grant's time is up")

    def _close(self, keys: list[int], reason: str) -> int:
        for key in keys:
            self.streams.pop(key)[2](reason)
        return len(keys)


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


class Gateway:
    def __init__(
        self,
        *,
        access: GatewayAccess,
        authenticate: Authenticate,
        upstream: Upstream,
        emit: Emit,
        sessions: Sessions,
        now: Callable[[], datetime],
        audit_ready: Callable[[], bool] = lambda: True,
        refresh_grants: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.access = access
        self.authenticate = authenticate
        self.upstream = upstream
        self.emit = emit
        self.sessions = sessions
        self.now = now
        self.audit_ready = audit_ready
        self.refresh_grants = refresh_grants

    # ---- connection ------------------------------------------------------------------------------------------

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            while True:
                try:
                    event = await _next_event(connection, reader)
                except h11.RemoteProtocolError as error:
                    await self._plain(writer, connection, 400, "BadRequest", f"malformed HTTP: {error}", close=True)
                    return
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    return
                if not isinstance(event, h11.Request):
                    return
                keep_going = await self._serve_request(connection, event, reader, writer)
                if not keep_going or connection.their_state is not h11.DONE:
                    return
                if connection.our_state is h11.DONE:  # the gateway's own answer, sent through h11
                    connection.start_next_cycle()
                elif connection.our_state is h11.SEND_RESPONSE:
                    # A forwarded response, framed by the gateway (response_framing): a fresh parser for the next
                    # request, given whatever of it has already arrived.
                    leftover, _ = connection.trailing_data
                    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
                    if leftover:
                        connection.receive_data(bytes(leftover))
                else:
                    return
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
        record: dict[str, Any] = {"kind": "activity.request", "method": method, "path": path}
        upgrade: bytes | None = None
        try:
            upgrade, client_closes = self._check_headers(headers)
            attrs = parse_request(method, path, query, upgrade=upgrade is not None)
            record.update(_describe(attrs))
            if not self.audit_ready():
                raise Unavailable("the gateway cannot record activity right now and refuses requests until it can")
            identity = self._identify(headers)
            record["user"] = identity.user
            if identity.grant_id:
                record["grant"] = identity.grant_id
            if (
                identity.grant_id is not None
                and identity.grant_id not in self.access.book.grants
                and self.refresh_grants is not None
            ):
                await self.refresh_grants()  # a grant newer than the stream's last word: ask the broker now
            allowed = self.access.authorize(
                attrs, self.now(), grant_id=identity.grant_id, user=identity.user, groups=identity.groups
            )
            record["grant"] = allowed.grant.id
            forward = self._forward_headers(headers, allowed, upgrade)
            body = await self._read_body(connection, reader) if upgrade is None else b""
        except KubejitError as error:
            code, reason = refusal_for(error)
            record.update({"kind": "activity.refused", "status": code, "reason": str(error)})
            self._record(record, started)
            # Keep the connection only when the refused request was read to its end: a client reuses a
            # kept-alive connection at once (kubectl apply: a refused GET, then a POST that Go will not retry),
            # so closing one after a response that did not say `Connection: close` loses its next request.
            # Malformed requests and refused upgrades always end the connection (CVE-2018-1002105).
            keep = code != 400 and upgrade is None and _request_read(connection)
            await self._plain(writer, connection, code, reason, str(error), close=not keep)
            return keep
        # A stream lives as long as its grant: the token that opened it only has to be valid when it opens
        # (a 5-minute token must not cut a 30-minute exec session), as kube-apiserver does with bearer tokens.
        deadline = allowed.grant.ends_at.timestamp()
        if upgrade is not None:
            await self._upgrade(connection, request, forward, reader, writer, allowed, attrs, record, deadline)
            self._record(record, started)
            return False
        status, size, keep_alive = await self._forward(
            connection, request, forward, body, writer, allowed, deadline, client_closes=client_closes
        )
        record.update({"status": status, "bytes": size})
        self._record(record, started)
        return keep_alive

    # ---- checks ----------------------------------------------------------------------------------------------

    @staticmethod
    def _check_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
        """Refuse hop-by-hop tricks; return the Upgrade protocol if this is an upgrade request, and whether the
        client asked to close the connection after this request."""
        tokens: set[str] = set()
        for name, value in headers:
            if name == b"connection":
                tokens |= {t.strip().lower() for t in value.decode("latin-1").split(",") if t.strip()}
        smuggled = tokens - _CONNECTION_TOKENS
        if smuggled:
            raise InvalidInput(
                f"the Connection header names {', '.join(sorted(smuggled))}: the gateway refuses hop-by-hop "
                "headers other than keep-alive, close and upgrade"
            )
        upgrades = [value for name, value in headers if name == b"upgrade"]
        if "upgrade" in tokens and len(upgrades) == 1:
            return upgrades[0], "close" in tokens
        if upgrades:
            raise InvalidInput("an Upgrade header needs exactly one protocol and Connection: Upgrade")
        return None, "close" in tokens

    def _identify(self, headers: list[tuple[bytes, bytes]]) -> Identity:
        values = [value for name, value in headers if name == b"authorization"]
        if len(values) != 1:
            raise Unauthenticated(
                "send exactly one Authorization: Bearer token (use a kubeconfig from `kubejit kubeconfig --grant ID`)"
            )
        scheme, _, token = values[0].decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the gateway accepts only bearer tokens (a grant token or an ID token)")
        return self.authenticate(token.strip(), self.now())

    async def _read_body(self, connection: h11.Connection, reader: asyncio.StreamReader) -> bytes:
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

    def _forward_headers(
        self, headers: list[tuple[bytes, bytes]], allowed: Allowed, upgrade: bytes | None
    ) -> list[tuple[bytes, bytes]]:
        forwarded = [
            (name, value)
            for name, value in headers
            if name not in _HOP_BY_HOP and name != b"authorization" and not name.startswith(_STRIPPED_PREFIXES)
        ]
        forwarded.append((b"host", f"{self.upstream.host}:{self.upstream.port}".encode()))
        if self.upstream.bearer:
            forwarded.append((b"authorization", f"Bearer {self.upstream.bearer}".encode()))
        impersonation = [(b"impersonate-user", allowed.cluster_user.encode())]
        impersonation += [(b"impersonate-group", group.encode()) for group in allowed.cluster_groups]
        if not all(header_safe(value) for _, value in impersonation):
            raise InvalidInput("the grant's user or groups contain characters that cannot be sent in a header")
        forwarded += impersonation
        if upgrade is not None:
            forwarded += [(b"connection", b"Upgrade"), (b"upgrade", upgrade)]
        return forwarded

    # ---- forwarding -------------------------------------------------------------------------------------------

    async def _forward(
        self,
        connection: h11.Connection,
        request: h11.Request,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        writer: asyncio.StreamWriter,
        allowed: Allowed,
        deadline: float,
        *,
        client_closes: bool,
    ) -> tuple[int, int, bool]:
        """Forward the request and stream the response back; (status, body bytes, whether to keep the
        connection)."""
        try:
            upstream = await self.upstream.acquire()
        except Unavailable as error:
            await self._plain(writer, connection, 502, "BadGateway", str(error))
            return 502, 0, True
        size = 0
        cut: asyncio.Event = asyncio.Event()
        why = {"reason": ""}

        def cut_off(reason: str) -> None:
            why["reason"] = reason
            cut.set()
            upstream.close()

        key = self.sessions.add(allowed.grant.id, deadline, cut_off)
        sent = responded = False
        try:
            if cut.is_set():
                raise ConnectionError("the grant ended before the request was sent")
            await upstream.send_request(request.method, request.target, headers, body)
            sent = True
            await upstream.read_head()
            if upstream.status == 101:
                raise ConnectionError("kube-apiserver switched protocols on a request that asked for no upgrade")
            out_headers = [(n, v) for n, v in upstream.headers if n not in _HOP_BY_HOP_RESPONSE]
            out_headers += [(b"warning", header_text(f'299 kubejit "{w}"')) for w in allowed.decision.warnings]
            framing = ResponseFraming(
                head_request=request.method == b"HEAD",
                http_10=request.http_version == b"1.0",
                client_closes=client_closes,
            )
            # What has arrived is passed on in one write, and written before waiting for more: a small response
            # (head, body, end) costs one TLS record and one system call, and a watch still streams each event
            # as it comes.
            pending = [framing.head(upstream.status, upstream.reason, out_headers)]
            responded = True
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
                    break
                await upstream.read_more()
            self.upstream.release(upstream)
            return upstream.status, size, framing.keep_alive
        except (ConnectionError, h11.ProtocolError, OSError, asyncio.IncompleteReadError) as error:
            upstream.close()
            if not responded:
                code, reason, message = 502, "BadGateway", f"kube-apiserver: {error}"
                if cut.is_set() and not sent:
                    code, reason, message = 403, "Forbidden", not_active(allowed.grant.id, why["reason"])
                elif cut.is_set():
                    message = (
                        f"grant {allowed.grant.id} ended ({why['reason']}) while kube-apiserver was answering: "
                        "the request may have been carried out; check before repeating it"
                    )
                await self._plain(writer, connection, code, reason, message)
                return code, size, True
            if cut.is_set():
                writer.close()  # the grant ended mid-stream: cut the client off too
            raise ConnectionError("upstream failed mid-response") from error
        finally:
            self.sessions.remove(key)

    async def _upgrade(
        self,
        connection: h11.Connection,
        request: h11.Request,
        headers: list[tuple[bytes, bytes]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        allowed: Allowed,
        attrs: RequestAttributes,
        record: dict[str, Any],
        deadline: float,
    ) -> None:
        upstream = await self.upstream.connect()
        if allowed.grant.id in self.sessions.ended or allowed.grant.id not in self.access.book.grants:
            # The grant ended while the connection to kube-apiserver was being made: nothing is sent.
            upstream.close()
            message = not_active(allowed.grant.id)
            await self._plain(writer, connection, 401, "Unauthorized", message, close=True)
            record.update({"kind": "activity.refused", "status": 401, "reason": message})
            return
        await upstream.send_request(request.method, request.target, headers)
        await upstream.read_head()
        if upstream.status != 101 or upstream.upgraded is None:
            # Refused by kube-apiserver (RBAC, admission): pass its answer on and finish.
            while not upstream.complete:
                await upstream.read_more()
            status = upstream.status
            body = upstream.take_body()
            upstream.close()
            content = body or status_body(status, "Failure", "kube-apiserver refused the upgrade")
            await self._plain(writer, connection, status, "Failure", "", content=content, close=True)
            record.update({"status": status})
            return
        writer.write(connection.send(h11.InformationalResponse(status_code=101, headers=upstream.headers)))
        await writer.drain()
        client_rest, _ = connection.trailing_data
        upstream_rest = upstream.upgraded
        session = SessionRecord()
        from_server, from_client = FrameReader(), FrameReader()
        websocket = b"websocket" in (v.lower() for n, v in request.headers if n.lower() == b"upgrade")
        if attrs.subresource == "exec":
            record.update({"kind": "activity.exec", "command": list(attrs.query_values("command"))})
            self.emit({**record, "phase": "start"})
        ended = asyncio.Event()
        reason = {"why": "closed"}

        def close(why: str) -> None:
            reason["why"] = why
            ended.set()

        key = self.sessions.add(allowed.grant.id, deadline, close)

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, first: bytes, tap: Callable[[bytes], None] | None
        ) -> None:
            data = first
            while True:
                if data:
                    if tap is not None:
                        tap(data)
                    sink.write(data)
                    await sink.drain()
                data = await source.read(READ_SIZE)
                if not data:
                    return

        def server_tap(data: bytes) -> None:
            if websocket:
                session.from_server(from_server.feed(data))
            else:
                session.output_bytes += len(data)

        def client_tap(data: bytes) -> None:
            if websocket:
                session.from_client(from_client.feed(data))
            else:
                session.input_bytes += len(data)

        tasks = [
            asyncio.ensure_future(pump(reader, upstream.writer, client_rest, client_tap)),
            asyncio.ensure_future(pump(upstream.reader, writer, upstream_rest, server_tap)),
            asyncio.ensure_future(ended.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            self.sessions.remove(key)
            upstream.close()
            writer.close()
        record.update(
            {
                "kind": "activity.session-closed" if attrs.subresource == "exec" else "activity.request",
                "status": 101,
                "closed": reason["why"],
                "output": session.text(),
                "outputBytes": session.output_bytes,
                "inputBytes": session.input_bytes,
                "truncated": session.truncated,
            }
        )

    # ---- responses and records --------------------------------------------------------------------------------

    async def _plain(
        self,
        writer: asyncio.StreamWriter,
        connection: h11.Connection,
        code: int,
        reason: str,
        message: str,
        *,
        content: bytes | None = None,
        close: bool = False,
    ) -> None:
        body = content if content is not None else status_body(code, reason, message)
        # h11 lets a server answer a request it could not parse (our side still IDLE, theirs ERROR): without
        # this, a malformed request got no Status at all, only a closed connection.
        unparsed = connection.our_state is h11.IDLE and connection.their_state is h11.ERROR
        if connection.our_state is not h11.SEND_RESPONSE and not unparsed:
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        if code == 401:
            headers.append((b"www-authenticate", b'Bearer realm="kubejit"'))
        try:
            writer.write(connection.send(h11.Response(status_code=code, headers=headers)))
            writer.write(connection.send(h11.Data(data=body)))
            writer.write(connection.send(h11.EndOfMessage()))
            await writer.drain()
        except (h11.LocalProtocolError, ConnectionError):
            writer.close()

    def _record(self, record: dict[str, Any], started: float) -> None:
        record["durationMs"] = round((time.monotonic() - started) * 1000, 2)
        if "user" in record:
            self.emit(record)


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
