"""kubejit login's wording when an identity provider answers in a shape it cannot use (adapters.oidc_login): a
token endpoint that answers a page instead of JSON (a proxy's or portal's page) is kubejit's Unavailable error
(exit 3, a line saying so), not a traceback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kubejit.adapters.oidc_login import LoginIssuer, Provider, sign_in_with_device
from kubejit.domain.errors import Unavailable


class _PagesInsteadOfTokens(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/device/code":
            body = json.dumps(
                {"device_code": "d", "user_code": "U", "verification_uri": "http://127.0.0.1/device", "interval": 1}
            ).encode()
            kind = "application/json"
        else:
            body, kind = b"<html><body>Please sign in to the proxy</body></html>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def idp() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PagesInsteadOfTokens)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_token_endpoint_answering_a_page_is_unavailable(idp: str) -> None:
    provider = Provider(
        LoginIssuer("dev", idp, "kubejit"),
        token_endpoint=f"{idp}/token",
        device_authorization_endpoint=f"{idp}/device/code",
    )
    with pytest.raises(Unavailable, match="dev"):
        sign_in_with_device(provider, show=lambda _device: None, sleep=lambda _seconds: None)
