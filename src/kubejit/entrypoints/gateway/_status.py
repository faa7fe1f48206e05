"""The gateway's own answers, as Kubernetes ``Status`` objects: what kubectl prints when the gateway refuses.

Every part of the gateway that answers a client itself (the connection handler, plain forwarding, upgrades)
renders and writes its answer through here, and :func:`refusal_for` reads the one error table
(``kubejit.domain.errors``) for a refusal's HTTP status and ``Status`` reason.
"""

from __future__ import annotations

import asyncio
import json

import h11

from kubejit.domain.errors import KubejitError, meaning_of


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
    """The HTTP status and ``Status`` reason the gateway answers ``error`` with, from the one error table."""
    meaning = meaning_of(error)
    return meaning.http_status, meaning.status_reason


async def send_status(
    writer: asyncio.StreamWriter,
    connection: h11.Connection,
    code: int,
    reason: str,
    message: str,
    *,
    content: bytes | None = None,
    close: bool = False,
) -> None:
    """Answer the request on ``connection`` with a ``Status`` (or ``content``, a body already made), through h11."""
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
