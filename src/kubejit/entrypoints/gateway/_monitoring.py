"""The gateway's monitoring listener: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``, in plain HTTP on a
port of its own (``metrics.listen`` in the gateway config).

Why it exists: the proxy's port speaks only to kubectl (HTTPS, every request authenticated and checked against
a grant); probes and Prometheus need neither, and must not be able to reach the cluster. This listener serves
three fixed read-only paths, one request per connection, and nothing else. ``main.py`` starts it when the config
has a ``metrics`` section.

``/healthz`` says the process serves; ``/readyz`` says whether it would serve kubectl now: the grant book is fresh
(the broker was heard from within maxStaleness) and recorded activity is being delivered (fail-closed gateways
refuse otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import h11
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_HEAD = 8 * 1024
READ_TIMEOUT = 5.0


@dataclass(frozen=True)
class Monitoring:
    registry: CollectorRegistry
    readiness: Callable[[], tuple[bool, str]]

    def answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        if path not in ("/metrics", "/healthz", "/readyz"):
            return 404, "text/plain", b"not found: this listener serves /metrics, /healthz and /readyz\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        ready, detail = self.readiness()
        return (200 if ready else 503), "text/plain", detail.encode() + b"\n"

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            event = await asyncio.wait_for(_request(connection, reader), READ_TIMEOUT)
            if event is None:
                status, kind, body = 400, "text/plain", b"malformed request\n"
            else:
                method = event.method.decode("ascii", "replace")
                status, kind, body = self.answer(method, event.target.decode("ascii", "replace").partition("?")[0])
                if method == "HEAD":
                    body = b""
            headers = [("Content-Type", kind), ("Content-Length", str(len(body))), ("Connection", "close")]
            if connection.our_state is h11.SEND_RESPONSE:
                writer.write(connection.send(h11.Response(status_code=status, headers=headers)))
                writer.write(connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage()))
                await writer.drain()
        except (TimeoutError, ConnectionError, h11.ProtocolError):
            pass
        finally:
            writer.close()


async def _request(connection: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return None
        if event is h11.NEED_DATA:
            data = await reader.read(MAX_HEAD)
            if not data:
                return None
            connection.receive_data(data)
            continue
        return event if isinstance(event, h11.Request) else None


async def serve_monitoring(monitoring: Monitoring, host: str, port: int) -> asyncio.Server:
    """Start the listener (the caller closes the returned server); its port is ``server.sockets[0]``'s."""
    return await asyncio.start_server(monitoring.serve_connection, host, port)
