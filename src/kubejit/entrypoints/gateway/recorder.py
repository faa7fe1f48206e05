"""What an exec session printed, read off the WebSocket stream as it passes through the gateway.

kubectl's exec over WebSocket (``v5.channel.k8s.io`` and its predecessors) sends binary frames whose first byte
is the channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 terminal resize. The gateway does not terminate the
WebSocket (it splices bytes both ways, which also carries SPDY unchanged), so it reads frames passively, from
the bytes it forwards, without ever holding them back. Output beyond a cap is counted, not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_FRAME = 16 * 1024 * 1024
STDOUT, STDERR, ERROR = 1, 2, 3
_TEXT, _BINARY, _CONTINUATION = 1, 2, 0


class FrameReader:
    """Decodes RFC 6455 frames from one direction of a connection (masked or not); gives up quietly on
    anything it cannot follow (the bytes still flow; only recording stops)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._message = bytearray()
        self._message_opcode = 0
        self.broken = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Complete messages (opcode, payload) that ``data`` finished."""
        if self.broken:
            return []
        self._buffer += data
        messages: list[tuple[int, bytes]] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return messages
            fin, opcode, payload = frame
            if opcode >= 8:  # control frames (close, ping, pong) are not output
                continue
            if opcode != _CONTINUATION:
                self._message_opcode = opcode
                self._message = bytearray()
            self._message += payload
            if len(self._message) > MAX_FRAME:
                self.broken = True
                return messages
            if fin:
                messages.append((self._message_opcode, bytes(self._message)))
                self._message = bytearray()

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        fin, opcode, masked = bool(buffer[0] & 0x80), buffer[0] & 0x0F, bool(buffer[1] & 0x80)
        header = _payload_length(buffer)
        if header is None:
            return None
        length, offset = header
        if length > MAX_FRAME:
            self.broken = True
            return None
        key = b""
        if masked:
            if len(buffer) < offset + 4:
                return None
            key, offset = bytes(buffer[offset : offset + 4]), offset + 4
        if len(buffer) < offset + length:
            return None
        payload = bytes(buffer[offset : offset + length])
        del buffer[: offset + length]
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return fin, opcode, payload


def _payload_length(buffer: bytearray) -> tuple[int, int] | None:
    """A WebSocket frame's payload length (7 bits, or the 16- or 64-bit extended length) and where the header
    goes on after it; None until enough of the header has arrived."""
    length = buffer[1] & 0x7F
    if length < 126:
        return length, 2
    end = 4 if length == 126 else 10
    if len(buffer) < end:
        return None
    return int.from_bytes(buffer[2:end], "big"), end


@dataclass
class SessionRecord:
    """The output of one exec/attach session, as much as the cap allows, plus byte counts."""

    cap: int = 64 * 1024
    output: bytearray = field(default_factory=bytearray)
    output_bytes: int = 0
    input_bytes: int = 0
    truncated: bool = False

    def from_server(self, messages: list[tuple[int, bytes]]) -> None:
        for opcode, payload in messages:
            if opcode in (_BINARY, _TEXT) and payload and payload[0] in (STDOUT, STDERR, ERROR):
                self.output_bytes += len(payload) - 1
                room = self.cap - len(self.output)
                if room > 0:
                    self.output += payload[1 : 1 + room]
                self.truncated = self.truncated or len(payload) - 1 > room

    def from_client(self, messages: list[tuple[int, bytes]]) -> None:
        for opcode, payload in messages:
            if opcode in (_BINARY, _TEXT) and payload and payload[0] == 0:
                self.input_bytes += len(payload) - 1

    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")
