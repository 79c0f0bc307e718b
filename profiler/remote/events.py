"""Splitting a response body into events, each with the offset of its first byte in the body.

SSE (OpenAI-compatible servers): events end at a blank line; `data:` lines carry the payload,
lines starting with ':' are comments (keep-alives). NDJSON (Ollama): one JSON object per line.
The client turns an event's first-byte offset into the time those bytes reached the socket
(stamping.py), so one read holding several events gives each its own arrival time.
"""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_WHITESPACE = b"\r\n \t"


class _FramedParser:
    """feed(bytes) -> [(first_byte_offset, payload)] for each complete frame that carries a payload.

    Subclasses say where a frame ends (`_boundary`) and what it carries (`_payload`); the buffer
    and the body offsets that turn into arrival times are kept here, once.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._buffer_offset = 0  # body offset of self._buffer[0]
        self.comments = 0

    def feed(self, data: bytes) -> list[tuple[int, str]]:
        buffer = self._buffer + data
        events: list[tuple[int, str]] = []
        start = 0
        while (bounds := self._boundary(buffer, start)) is not None:
            end, next_start = bounds
            self._emit(events, buffer[start:end], start)
            start = next_start
        self._buffer = buffer[start:]
        self._buffer_offset += start
        return events

    def finish(self) -> list[tuple[int, str]]:
        """A last frame the server closed the stream without terminating."""
        block, self._buffer = self._buffer, b""
        events: list[tuple[int, str]] = []
        self._emit(events, block, 0)
        return events

    def _emit(self, events: list[tuple[int, str]], block: bytes, start: int) -> None:
        payload = self._payload(block)
        if payload is not None:
            lead = len(block) - len(block.lstrip(_WHITESPACE))
            events.append((self._buffer_offset + start + lead, payload))

    def _boundary(self, buffer: bytes, start: int) -> tuple[int, int] | None:
        """(end of the frame starting at `start`, where the next one starts), or None if incomplete."""
        raise NotImplementedError

    def _payload(self, block: bytes) -> str | None:
        raise NotImplementedError


class SseParser(_FramedParser):
    """Events end at a blank line; their `data:` lines are the payload, ':' lines are comments."""

    def _boundary(self, buffer: bytes, start: int) -> tuple[int, int] | None:
        match = _BLANK_LINE.search(buffer, start)
        return None if match is None else (match.end(), match.end())

    def _payload(self, block: bytes) -> str | None:
        lines = []
        for line in block.decode("utf-8", errors="replace").splitlines():
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("data:"):
                value = line[5:]
                lines.append(value[1:] if value.startswith(" ") else value)
            # event:, id:, retry: fields carry nothing a completion stream needs
        return "\n".join(lines) if lines else None


class NdjsonParser(_FramedParser):
    """One JSON object per non-empty line."""

    def _boundary(self, buffer: bytes, start: int) -> tuple[int, int] | None:
        end = buffer.find(b"\n", start)
        return None if end < 0 else (end, end + 1)

    def _payload(self, block: bytes) -> str | None:
        text = block.strip()
        return text.decode("utf-8", errors="replace") if text else None
