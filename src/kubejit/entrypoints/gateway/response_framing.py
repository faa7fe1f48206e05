"""HTTP/1.1 framing of a forwarded response, written by the gateway itself.

The requests clients send are parsed by h11, strictly. The responses the gateway forwards come from
kube-apiserver through llhttp, which has already refused malformed framing and headers; writing them out again
through h11 validated every header a second time, about 40 µs per request (bench/gateway.py). Here only what
the gateway adds is checked (a warning is text from the policy), and the body is framed as the response
requires: as-is under a Content-Length, re-chunked when kube-apiserver streamed it (watches), nothing for HEAD,
1xx, 204 and 304, and delimited by closing the connection for an HTTP/1.0 client.
"""

from __future__ import annotations

from dataclasses import dataclass

_CONTROL = bytes(range(32)) + b"\x7f"
_SAFE = bytes.maketrans(_CONTROL, b" " * len(_CONTROL))


def header_text(text: str) -> bytes:
    """``text`` as a header value: control characters (a line break would start a new header) become spaces."""
    return text.encode("utf-8", "replace").translate(_SAFE)


@dataclass
class ResponseFraming:
    """How one response is framed to the client; ``keep_alive`` says whether the connection may serve another."""

    head_request: bool
    http_10: bool
    client_closes: bool
    keep_alive: bool = True
    _mode: str = "length"  # "length", "chunked", "close" or "none"

    def head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        """The status line and headers; ``headers`` must not hold hop-by-hop headers (Transfer-Encoding, ...)."""
        has_length = any(name == b"content-length" for name, _ in headers)
        out = list(headers)
        if self.head_request or status < 200 or status in (204, 304):
            self._mode = "none"
        elif has_length:
            self._mode = "length"
        elif self.http_10:
            self._mode = "close"  # HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection
        else:
            self._mode = "chunked"
            out.append((b"transfer-encoding", b"chunked"))
        if self.http_10 or self.client_closes or self._mode == "close":
            self.keep_alive = False
            out.append((b"connection", b"close"))
        parts = [b"HTTP/1.1 ", str(status).encode(), b" ", reason.translate(_SAFE), b"\r\n"]
        for name, value in out:
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)

    @property
    def streamed(self) -> bool:
        """Whether the body has no announced length (a watch): it goes on until kube-apiserver ends it."""
        return self._mode in ("chunked", "close")

    def data(self, data: bytes) -> bytes:
        if not data or self._mode == "none":
            return b""
        if self._mode == "chunked":
            return b"%x\r\n%b\r\n" % (len(data), data)
        return data

    def end(self) -> bytes:
        return b"0\r\n\r\n" if self._mode == "chunked" else b""
