"""Upgraded connections (exec, attach and port-forward over WebSocket or SPDY): switched, then spliced.

The connection handler calls :func:`splice_upgrade` once an upgrade request has been checked. kube-apiserver
decides the upgrade (RBAC, admission); after its 101 the gateway records an exec, attach or port-forward as
started, copies bytes both ways unchanged, reads an exec session's output passively off a WebSocket for the
record (recorder.py), and registers the connection with its grant so that it is cut when the grant ends or is
revoked.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import h11

from kubejit.adapters.kube.upstream import READ_SIZE, Upstream, UpstreamConnection
from kubejit.domain.audit import AuditKind
from kubejit.domain.grant_book import GrantBook, not_active
from kubejit.domain.requestinfo import RequestAttributes
from kubejit.entrypoints.gateway._headers import Headers
from kubejit.entrypoints.gateway._status import send_status, status_body
from kubejit.entrypoints.gateway.recorder import FrameReader, SessionRecord
from kubejit.services.gateway_access import Allowed
from kubejit.services.gateway_sessions import Sessions

Emit = Callable[[dict[str, Any]], None]
RECORDED_AT_START = frozenset({"attach", "portforward"})  # besides exec, the upgrades recorded as they start


async def splice_upgrade(
    pool: Upstream,
    sessions: Sessions,
    book: GrantBook,
    emit: Emit,
    connection: h11.Connection,
    request: h11.Request,
    headers: Headers,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    allowed: Allowed,
    attrs: RequestAttributes,
    record: dict[str, Any],
    deadline: float,
) -> None:
    """Carry the upgrade to its end; ``record`` is completed with what happened (the caller records it)."""
    upstream = await pool.connect()
    if allowed.grant.id in sessions.ended or allowed.grant.id not in book.grants:
        # The grant ended while the connection to kube-apiserver was being made: nothing is sent.
        upstream.close()
        message = not_active(allowed.grant.id)
        await send_status(writer, connection, 401, "Unauthorized", message, close=True)
        record.update({"kind": AuditKind.ACTIVITY_REFUSED, "status": 401, "reason": message})
        return
    await upstream.send_request(request.method, request.target, headers)
    await upstream.read_head()
    if upstream.status != 101 or upstream.upgraded is None:
        record.update({"status": await _pass_refusal_on(upstream, connection, writer)})
        return
    writer.write(connection.send(h11.InformationalResponse(status_code=101, headers=upstream.headers)))
    await writer.drain()
    client_rest, _ = connection.trailing_data
    upstream_rest = upstream.upgraded
    session = SessionRecord()
    websocket = b"websocket" in (v.lower() for n, v in request.headers if n.lower() == b"upgrade")
    started = _record_start(emit, attrs, record)
    ended = asyncio.Event()
    reason = {"why": "closed"}

    def close(why: str) -> None:
        reason["why"] = why
        ended.set()

    key = sessions.add(allowed.grant.id, deadline, close)

    server_tap, client_tap = _taps(session, websocket=websocket)
    tasks = [
        asyncio.ensure_future(_pump(reader, upstream.writer, client_rest, client_tap)),
        asyncio.ensure_future(_pump(upstream.reader, writer, upstream_rest, server_tap)),
        asyncio.ensure_future(ended.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        sessions.remove(key)
        upstream.close()
        writer.close()
    record.update(
        {
            "kind": AuditKind.ACTIVITY_SESSION_CLOSED if attrs.subresource == "exec" else AuditKind.ACTIVITY_REQUEST,
            "status": 101,
            "closed": reason["why"],
            "output": session.text(),
            "outputBytes": session.output_bytes,
            "inputBytes": session.input_bytes,
            "truncated": session.truncated,
            **({"phase": "end"} if started else {}),
        }
    )


def _record_start(emit: Emit, attrs: RequestAttributes, record: dict[str, Any]) -> bool:
    """Record an exec (with its command), an attach or a port-forward as it starts, so that what watches the
    activity (the broker's alert rules, the console's open sessions) hears of it now, not when the session ends;
    True when a start was recorded (the end record then says ``phase: end``; both carry the session's id). Any
    other upgrade is recorded at its end only."""
    if attrs.subresource == "exec":
        record.update({"kind": AuditKind.ACTIVITY_EXEC, "command": list(attrs.query_values("command"))})
    elif attrs.subresource not in RECORDED_AT_START:
        return False
    record_session_start(emit, record, 101)
    return True


def record_session_start(emit: Emit, record: dict[str, Any], status: int) -> None:
    """Emit ``record`` as a session's start and give it the session's id, which its end carries too: what pairs
    them (``domain/live_sessions``). The proxy calls it for watches as well."""
    record["session"] = secrets.token_hex(8)
    emit({**record, "status": status, "phase": "start"})


def _taps(session: SessionRecord, *, websocket: bool) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
    """What sees the bytes from kube-apiserver and from the client: WebSocket frames are decoded into the session
    record; SPDY is spliced undecoded and only counted."""
    if websocket:
        from_server, from_client = FrameReader(), FrameReader()
        return (
            lambda data: session.from_server(from_server.feed(data)),
            lambda data: session.from_client(from_client.feed(data)),
        )

    def count_output(data: bytes) -> None:
        session.output_bytes += len(data)

    def count_input(data: bytes) -> None:
        session.input_bytes += len(data)

    return count_output, count_input


async def _pass_refusal_on(
    upstream: UpstreamConnection, connection: h11.Connection, writer: asyncio.StreamWriter
) -> int:
    """kube-apiserver refused the upgrade (RBAC, admission): pass its answer on, close, and return its status."""
    while not upstream.complete:
        await upstream.read_more()
    status = upstream.status
    body = upstream.take_body()
    upstream.close()
    content = body or status_body(status, "Failure", "kube-apiserver refused the upgrade")
    await send_status(writer, connection, status, "Failure", "", content=content, close=True)
    return status


async def _pump(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, first: bytes, tap: Callable[[bytes], None]
) -> None:
    """Copy ``first``, then whatever ``source`` sends, to ``sink`` until ``source`` ends; ``tap`` sees it all."""
    data = first
    while True:
        if data:
            tap(data)
            sink.write(data)
            await sink.drain()
        data = await source.read(READ_SIZE)
        if not data:
            return
