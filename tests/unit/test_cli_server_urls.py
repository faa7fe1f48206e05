"""--server as people type it: a URL without a scheme, https:// to a plain-http server, the demo's loopback http."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubejit.domain.errors import InvalidInput, Unavailable
from kubejit.entrypoints.cli.client import BrokerClient


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("127.0.0.1:8080", "has no scheme: write https://127.0.0.1:8080 (or http://127.0.0.1:8080, as for the demo"),
        ("localhost:8080/", "has no scheme: write https://localhost:8080 (or http://localhost:8080"),
        ("kubejit.example.com", "has no scheme: write https://kubejit.example.com"),
        ("ftp://kubejit.example.com", "must be an https:// URL (or http:// for a broker on this machine)"),
        ("http://kubejit.example.com", "would travel in clear text; use https://"),
    ],
)
def test_a_server_that_is_no_usable_url_says_what_to_write(server: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        BrokerClient.anonymous(server, environ={})
    assert expected in str(refused.value)
    if "kubejit.example.com" in server and "no scheme" in expected:
        assert "http://kubejit" not in str(refused.value), "plain http is never suggested off this machine"


def test_the_demos_loopback_http_url_is_accepted() -> None:
    assert BrokerClient.anonymous("http://127.0.0.1:53277/", environ={}).server == "http://127.0.0.1:53277"


@pytest.fixture
def plain_http_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_to_a_plain_http_server_says_so_and_names_the_http_url(plain_http_server: str) -> None:
    client = BrokerClient(f"https://{plain_http_server}", "token")
    with pytest.raises(Unavailable) as failed:
        client.call("GET", "/api/v1/whoami")
    message = str(failed.value)
    assert f"the broker at https://{plain_http_server} does not speak TLS (https) on that port" in message
    assert f"use http://{plain_http_server}" in message
