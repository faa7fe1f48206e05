"""How the gateway frames a forwarded response for the client (the part h11 no longer writes)."""

from __future__ import annotations

import h11
import pytest

from kubejit.entrypoints.gateway.response_framing import ResponseFraming, header_text


def client_reads(wire: bytes, method: bytes = b"GET") -> list[object]:
    """What a strict HTTP/1.1 client (h11) makes of the bytes."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/x", headers=[("host", "gw")]))
    client.send(h11.EndOfMessage())
    client.receive_data(wire)
    events: list[object] = []
    while (event := client.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
        events.append(event)
        if isinstance(event, h11.EndOfMessage):
            break
    return events


def test_a_body_with_a_length_is_passed_as_it_is_and_the_connection_kept() -> None:
    framing = ResponseFraming(head_request=False, http_10=False, client_closes=False)
    wire = framing.head(200, b"OK", [(b"content-type", b"application/json"), (b"content-length", b"2")])
    wire += framing.data(b"{}") + framing.end()
    response, data, end = client_reads(wire)
    assert isinstance(response, h11.Response)
    assert response.status_code == 200
    assert isinstance(data, h11.Data)
    assert data.data == b"{}"
    assert isinstance(end, h11.EndOfMessage)
    assert framing.keep_alive


def test_a_streamed_body_is_rechunked_and_empty_pieces_do_not_end_it() -> None:
    framing = ResponseFraming(head_request=False, http_10=False, client_closes=False)
    wire = framing.head(200, b"OK", [(b"content-type", b"application/json")])
    wire += framing.data(b'{"type":"ADDED"}\n') + framing.data(b"") + framing.data(b'{"type":"DELETED"}\n')
    wire += framing.end()
    events = client_reads(wire)
    body = b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data))
    assert body == b'{"type":"ADDED"}\n{"type":"DELETED"}\n'
    assert isinstance(events[-1], h11.EndOfMessage)


@pytest.mark.parametrize(("method", "status"), [(b"HEAD", 200), (b"GET", 204), (b"GET", 304)])
def test_responses_without_a_body_get_none(method: bytes, status: int) -> None:
    framing = ResponseFraming(head_request=method == b"HEAD", http_10=False, client_closes=False)
    wire = framing.head(status, b"", [(b"content-length", b"10")] if method == b"HEAD" else [])
    assert framing.data(b"ignored") == b""
    assert framing.end() == b""
    assert isinstance(client_reads(wire, method)[-1], h11.EndOfMessage)


def test_a_client_that_asked_to_close_is_told_and_not_kept() -> None:
    framing = ResponseFraming(head_request=False, http_10=False, client_closes=True)
    head = framing.head(200, b"OK", [(b"content-length", b"0")])
    assert b"\r\nconnection: close\r\n" in head
    assert not framing.keep_alive


def test_an_http_10_client_gets_the_body_delimited_by_the_end_of_the_connection() -> None:
    framing = ResponseFraming(head_request=False, http_10=True, client_closes=False)
    head = framing.head(200, b"OK", [(b"content-type", b"text/plain")])
    assert b"transfer-encoding" not in head
    assert framing.data(b"abc") == b"abc"
    assert not framing.keep_alive


def test_text_from_the_policy_cannot_start_a_header_of_its_own() -> None:
    value = header_text('299 kubejit "deleting\r\nImpersonate-User: admin"')
    assert b"\r" not in value
    assert b"\n" not in value
    framing = ResponseFraming(head_request=False, http_10=False, client_closes=False)
    head = framing.head(200, b"OK\r\nX: y", [(b"warning", value), (b"content-length", b"0")])
    assert head.count(b"\r\n") == 4  # status line, two headers, blank line
