"""The one-shot loopback redirect receiver of the authorization code flow (RFC 8252 section 7.3).

The provider sends the browser back to ``http://127.0.0.1:<port>/callback?code=...&state=...``; this little
HTTP server, bound to 127.0.0.1 only (a random port unless ``--port`` names one), waits for that one request,
answers the browser with a short page, and hands the parameters to ``_code_flow``. A request whose ``state`` is
not this sign-in's (another page or process poking the port) is answered 400 and ignored: only the answer to
the URL this process printed can finish the sign-in. Nothing is served but the callback.
"""

from __future__ import annotations

import html
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubejit.domain.errors import InvalidInput, Unauthenticated

CALLBACK_PATH = "/callback"
# How long one connection may take to send its request: a connection that sends nothing (a browser's idle
# preconnect, any local process) is dropped after that, so it cannot hold the sign-in past its deadline.
CONNECTION_TIMEOUT_SECONDS = 2.0
_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>kubejit login</title></head>"
    "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{text}</p></body></html>"
)


class LoopbackReceiver:
    """An HTTP server on 127.0.0.1 that takes the one redirect of this sign-in (see the module docstring)."""

    def __init__(self, state: str, port: int = 0) -> None:
        self.state = state
        self.answer: dict[str, str] | None = None
        try:
            self._server = HTTPServer(("127.0.0.1", port), _handler_for(self))
        except OSError as error:
            raise InvalidInput(
                f"cannot listen on 127.0.0.1:{port} for the sign-in's redirect ({error.strerror}): "
                "choose another port with --port N, or leave --port out for a random one"
            ) from None
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    def wait(self, timeout: float, *, clock: Any = time.monotonic) -> dict[str, str]:
        """The callback's query parameters (``code`` or ``error``, with this sign-in's ``state``)."""
        deadline = clock() + timeout
        self._server.timeout = 0.5
        while self.answer is None:
            if clock() > deadline:
                raise Unauthenticated(
                    f"nobody signed in within {int(timeout)} seconds: run kubejit login again "
                    "(or kubejit login --device on a machine without a browser)"
                )
            self._server.handle_request()
        return self.answer

    def close(self) -> None:
        self._server.server_close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _handler_for(receiver: LoopbackReceiver) -> type[BaseHTTPRequestHandler]:
    class Callback(BaseHTTPRequestHandler):
        timeout = CONNECTION_TIMEOUT_SECONDS

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != CALLBACK_PATH or receiver.answer is not None:
                self._page(404, "Not found", "This address only takes the sign-in's redirect.")
                return
            params = {key: values[0] for key, values in parse_qs(parts.query).items()}
            if params.get("state") != receiver.state:
                self._page(400, "Not this sign-in", "The state does not match the sign-in kubejit started.")
                return
            receiver.answer = params
            if "error" in params:
                self._page(200, "Sign-in failed", f"The identity provider answered: {params['error']}.")
            else:
                self._page(200, "Signed in", "You are signed in to kubejit: return to your terminal.")

        def _page(self, status: int, title: str, text: str) -> None:
            body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass  # the URL holds the code: nothing is logged

    return Callback
