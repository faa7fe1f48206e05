"""Watches and port-forwards through the gateway are recorded when their stream starts and again when it ends,
with the same ``session`` id, so the open-sessions list shows them while they last; an answer that is not a
stream (a refusal, a plain list) records no start. In-process gateway in front of a stand-in kube-apiserver
(``test_gateway_stream_start``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from kubejit.domain.anomalies import Detector, RuleKind, rule_with_defaults
from kubejit.domain.audit import AuditEvent
from kubejit.domain.live_sessions import still_open
from tests.unit.test_gateway_stream_start import GRANT, NOW, _activities, _attach, _gateway

WATCH = (
    "GET /api/v1/namespaces/kube-system/pods?watch=true HTTP/1.1\r\nHost: gw\r\n"
    "Authorization: Bearer alices-token\r\n\r\n"
)
EVENT = b'{"type":"ADDED","object":{"kind":"Pod"}}\n'


def _apiserver(finish: asyncio.Event, status: bytes = b"200 OK") -> Any:
    """Answers a watch with a chunked stream: one event, then the end once ``finish`` is set."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if status != b"200 OK":
            body = b'{"kind":"Status","code":403}'
            writer.write(
                b"HTTP/1.1 %b\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%b" % (status, len(body), body)
            )
        else:
            head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            writer.write(head + b"%x\r\n%b\r\n" % (len(EVENT), EVENT))
            await writer.drain()
            await finish.wait()
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    return answer


async def _watch(how: str, status: bytes = b"200 OK") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(recorded while the watch streamed, recorded by its end); ``how`` ends it: "apiserver" ends the stream,
    "revoke" cuts the grant's streams, "refused" is a kube-apiserver that says no."""
    emitted: list[dict[str, Any]] = []
    finish = asyncio.Event()
    apiserver = await asyncio.start_server(_apiserver(finish, status), "127.0.0.1", 0)
    gateway = _gateway(apiserver.sockets[0].getsockname()[1], emitted)
    front = await asyncio.start_server(gateway.serve_connection, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", front.sockets[0].getsockname()[1])
        writer.write(WATCH.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert head.startswith(b"HTTP/1.1 " + status), head
        await asyncio.sleep(0.05)
        during = list(emitted)
        if how == "revoke":
            gateway.sessions.close_grant("g1", "the grant was revoked")
        finish.set()
        for _ in range(0 if how == "refused" else 200):
            if len(emitted) > len(during):
                break
            await asyncio.sleep(0.01)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)  # the gateway sees the client gone and closes its side
    finally:
        front.close()
        apiserver.close()
    return during, emitted


def _phases(records: list[dict[str, Any]]) -> list[tuple[str, str | None, int]]:
    return [(r["verb"], r.get("phase"), r["status"]) for r in records]


def test_a_watch_is_recorded_when_its_stream_starts_and_ends_with_the_same_session() -> None:
    during, emitted = asyncio.run(_watch("apiserver"))
    assert _phases(during) == [("watch", "start", 200)]
    assert _phases(emitted) == [("watch", "start", 200), ("watch", "end", 200)]
    start, end = emitted
    assert start["session"] == end["session"]
    assert end["closed"] == "ended by kube-apiserver"
    assert end["bytes"] == len(EVENT)
    (listed,) = still_open(_events(during))
    assert (listed.kind, listed.where) == ("watch", "kube-system/pods")
    assert still_open(_events(emitted)) == []


def test_a_watch_cut_by_a_revoke_records_its_end_with_the_reason() -> None:
    _during, emitted = asyncio.run(_watch("revoke"))
    assert _phases(emitted) == [("watch", "start", 200), ("watch", "end", 200)]
    assert emitted[1]["closed"] == "the grant was revoked"
    assert still_open(_events(emitted)) == []


def test_a_refused_watch_is_no_session() -> None:
    _during, emitted = asyncio.run(_watch("refused", status=b"403 Forbidden"))
    assert _phases(emitted) == [("watch", None, 403)]
    assert "session" not in emitted[0]


def test_a_port_forward_is_recorded_at_its_start_and_counted_once() -> None:
    during, emitted = asyncio.run(_attach("portforward"))
    assert [(r["resource"], r.get("phase"), r["status"]) for r in during] == [("pods/portforward", "start", 101)]
    assert [r.get("phase") for r in emitted] == ["start", "end"]
    assert emitted[0]["session"] == emitted[1]["session"]
    (listed,) = still_open(_events(during))
    assert (listed.kind, listed.where) == ("port-forward", "kube-system/app")
    # a break-glass rule counting two requests: the start is one, its end is not a second
    rule = rule_with_defaults(None, RuleKind.BREAK_GLASS, threshold=2)
    detector = Detector(started=NOW)
    start, end = _activities(emitted)
    glass = replace(GRANT, break_glass=True)
    assert detector.observe([rule], start, glass) == []
    assert detector.observe([rule], end, glass) == []


def _events(records: list[dict[str, Any]]) -> list[AuditEvent]:
    return [
        AuditEvent(seq, NOW, str(r["kind"]), r["user"], r["grant"], {k: v for k, v in r.items() if k != "kind"})
        for seq, r in enumerate(records, start=1)
    ]
