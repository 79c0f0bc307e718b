"""Splitting a byte stream into events, each stamped with the arrival time of its first byte.

SSE (OpenAI-compatible servers): events end at a blank line; `data:` lines carry the payload,
lines starting with ':' are comments (keep-alives). NDJSON (Ollama): one JSON object per line.
One socket read may carry several events (they share its stamp) or part of one (it keeps the
stamp of the read where it began): the stamp is when the client *could* first have seen it.
"""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class SseParser:
    """feed(bytes, arrival_ns) -> [(arrival_ns, data)] for each complete event with a data field."""

    def __init__(self) -> None:
        self._buffer = b""
        self._started_ns = 0
        self.comments = 0

    def feed(self, data: bytes, arrival_ns: int) -> list[tuple[int, str]]:
        if not self._buffer.strip():
            self._started_ns = arrival_ns  # this read starts a new event
            self._buffer = self._buffer.lstrip(b"\r\n")
        buffer = self._buffer + data
        events = []
        start = 0
        while True:
            match = _BLANK_LINE.search(buffer, start)
            if match is None:
                break
            block = buffer[start:match.start()]
            start = match.end()
            payload = self._data_of(block)
            if payload is not None:
                events.append((self._started_ns, payload))
            self._started_ns = arrival_ns  # anything after this point arrived in this read
        self._buffer = buffer[start:]
        return events

    def finish(self) -> list[tuple[int, str]]:
        """A last event the server closed the stream without terminating (no blank line)."""
        block, self._buffer = self._buffer, b""
        payload = self._data_of(block) if block.strip() else None
        return [(self._started_ns, payload)] if payload is not None else []

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
    """feed(bytes, arrival_ns) -> [(arrival_ns, line)] for each complete non-empty line."""

    def __init__(self) -> None:
        self._buffer = b""
        self._started_ns = 0
        self.comments = 0

    def feed(self, data: bytes, arrival_ns: int) -> list[tuple[int, str]]:
        if not self._buffer.strip():
            self._started_ns = arrival_ns
        buffer = self._buffer + data
        events = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end].strip()
            start = end + 1
            if line:
                events.append((self._started_ns, line.decode("utf-8", errors="replace")))
            self._started_ns = arrival_ns
        self._buffer = buffer[start:]
        return events

    def finish(self) -> list[tuple[int, str]]:
        line, self._buffer = self._buffer.strip(), b""
        return [(self._started_ns, line.decode("utf-8", errors="replace"))] if line else []
