"""kube-apiserver as the gateway reaches it: pooled keep-alive TLS connections, one request at a time on each.

What goes upstream is the gateway's own making (a client request that h11 has already parsed strictly and the
gateway has checked, plus headers it adds and validates), so it is written out directly. Responses are parsed
with httptools (llhttp, the parser of Node.js), which refuses the same framing ambiguities as h11 (for example
both Content-Length and Transfer-Encoding) at a few microseconds a response; h11 on this leg cost about 80 µs
per request, the largest single cost in bench/gateway.py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import httptools

from kubejit.domain.errors import InvalidInput, Unavailable

READ_SIZE = 64 * 1024
_FORBIDDEN_IN_HEADERS = frozenset(b"\r\n\0")


def header_safe(value: bytes) -> bool:
    """Whether ``value`` can be written into a header line as it is (no CR, LF or NUL to split it)."""
    return _FORBIDDEN_IN_HEADERS.isdisjoint(value)


class UpstreamConnection:
    """One TLS connection to kube-apiserver and the state of the response being read on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._parser = httptools.HttpResponseParser(self)
        self._reset(head_only=False)

    def _reset(self, *, head_only: bool) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []  # names lower-cased
        self.head_read = False
        self.complete = False
        self.keep_alive = False
        self.upgraded: bytes | None = None  # after a 101: the first bytes of the upgraded stream
        self._head_only = head_only
        self._body: list[bytes] = []

    # ---- httptools callbacks ----------------------------------------------------------------------------------

    def on_status(self, fragment: bytes) -> None:
        self.reason += fragment

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        self.head_read = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # ---- use ----------------------------------------------------------------------------------------------------

    async def send_request(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
    ) -> None:
        """Write one request (in one write: one TLS record and one system call for a small request).

        ``method`` and ``target`` come from a request h11 accepted; every header value must be header_safe."""
        self._reset(head_only=method == b"HEAD")
        parts = [method, b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        if body:
            parts += (b"content-length: ", str(len(body)).encode(), b"\r\n")
        parts += (b"\r\n", body)
        self.writer.write(b"".join(parts))
        await self.writer.drain()

    async def read_head(self) -> None:
        """Read until the response's status line and headers are in (for a 101, also the upgraded bytes)."""
        while not self.head_read:
            await self.read_more()
        if self.status < 200 and self.status != 101:
            raise ConnectionError(f"kube-apiserver answered {self.status} before its response")

    async def read_more(self) -> None:
        """Read what kube-apiserver sent next and parse it; ConnectionError if it closed or sent nonsense."""
        data = await self.reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("kube-apiserver closed the connection")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgraded = data[upgrade.args[0] :]
        except httptools.HttpParserError as error:
            raise ConnectionError(f"kube-apiserver's response could not be parsed: {error}") from error
        if self._head_only and self.head_read:
            self.complete = True  # a HEAD response has no body, whatever its Content-Length says

    def take_body(self) -> bytes:
        """The body bytes parsed so far and not yet taken (de-chunked)."""
        data = b"".join(self._body)
        self._body.clear()
        return data

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self._head_only and self.upgraded is None

    def close(self) -> None:
        self.writer.close()


class Upstream:
    """kube-apiserver, reached over TLS with the gateway's own credentials; keep-alive connections are pooled.

    The gateway's token is either fixed (``bearer``, from a kubeconfig) or asked of ``bearer_source`` for every
    request (in a pod: the ServiceAccount token, which the kubelet rotates)."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        bearer: str | None = None,
        bearer_source: Callable[[], str] | None = None,
        pool_size: int = 64,
    ) -> None:
        if bearer is not None and bearer_source is not None:
            raise InvalidInput("the gateway's upstream takes a fixed token or a token source, not both")
        self.host = host
        self.port = port
        self.context = context
        self._bearer = bearer
        self._bearer_source = bearer_source
        self.pool_size = pool_size
        self._idle: list[UpstreamConnection] = []

    @property
    def bearer(self) -> str | None:
        """The token to present to kube-apiserver now (None: the TLS client certificate is the credential)."""
        return self._bearer_source() if self._bearer_source is not None else self._bearer

    async def connect(self) -> UpstreamConnection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.context, limit=READ_SIZE * 4)
        except OSError as error:
            raise Unavailable(f"the gateway cannot reach kube-apiserver: {error}") from error
        return UpstreamConnection(reader, writer)

    async def acquire(self) -> UpstreamConnection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.writer.is_closing() and not connection.reader.at_eof():
                return connection
            connection.close()
        return await self.connect()

    def release(self, connection: UpstreamConnection) -> None:
        if connection.reusable and len(self._idle) < self.pool_size:
            self._idle.append(connection)
        else:
            connection.close()
