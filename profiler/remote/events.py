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


class SseParser:
    """feed(bytes) -> [(first_byte_offset, data)] for each complete event with a data field."""

    def __init__(self) -> None:
        self._buffer = b""
        self._buffer_offset = 0  # body offset of self._buffer[0]
        self.comments = 0

    def feed(self, data: bytes) -> list[tuple[int, str]]:
        buffer = self._buffer + data
        events = []
        start = 0
        while True:
            match = _BLANK_LINE.search(buffer, start)
            if match is None:
                break
            block = buffer[start:match.end()]
            payload = self._data_of(block)
            if payload is not None:
                lead = len(block) - len(block.lstrip(_WHITESPACE))
                events.append((self._buffer_offset + start + lead, payload))
            start = match.end()
        self._buffer = buffer[start:]
        self._buffer_offset += start
        return events

    def finish(self) -> list[tuple[int, str]]:
        """A last event the server closed the stream without terminating (no blank line)."""
        block, self._buffer = self._buffer, b""
        payload = self._data_of(block) if block.strip() else None
        lead = len(block) - len(block.lstrip(_WHITESPACE))
        return [(self._buffer_offset + lead, payload)] if payload is not None else []

    def _data_of(self, block: bytes) -> str | None:
        lines = []
        for line in block.decode("utf-8", errors="replace").splitlines():
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("data:"):
                value = line[5:]
                lines.append(value[1:] if value.startswith(" ") else value)
            # event:, id:, retry: fields carry nothing a completion stream needs
        return "\n".join(lines) if lines else None


class NdjsonParser:
    """feed(bytes) -> [(first_byte_offset, line)] for each complete non-empty line."""

    def __init__(self) -> None:
        self._buffer = b""
        self._buffer_offset = 0
        self.comments = 0

    def feed(self, data: bytes) -> list[tuple[int, str]]:
        buffer = self._buffer + data
        events = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            stripped = line.lstrip(_WHITESPACE)
            if stripped.strip():
                events.append((self._buffer_offset + start + len(line) - len(stripped),
                               stripped.strip().decode("utf-8", errors="replace")))
            start = end + 1
        self._buffer = buffer[start:]
        self._buffer_offset += start
        return events

    def finish(self) -> list[tuple[int, str]]:
        line, self._buffer = self._buffer, b""
        stripped = line.lstrip(_WHITESPACE)
        if not stripped.strip():
            return []
        return [(self._buffer_offset + len(line) - len(stripped), stripped.strip().decode("utf-8", errors="replace"))]
