"""Splitting a response body into events, each with the offset of its first byte in the body.

SSE (OpenAI-compatible servers): events end at a blank line; `data:` lines carry the payload,
lines starting with ':' are comments (keep-alives). NDJSON (Ollama): one JSON object per line.
The client turns an event's first-byte offset into the time those bytes reached the socket
(stamping.py), so one read holding several events gives each its own arrival time.

An event is at most MAX_EVENT_BYTES: a server that sends a longer one (a 64 MB line) fails the
stream with that limit named, instead of the client buffering without end. Each read is searched
for a frame's end only from where the previous search stopped, so a long event costs time linear in
its length (joining every read onto the whole buffer and searching it again was quadratic: a 64 MB
line kept the client busy for minutes).
"""

from __future__ import annotations

import re

from profiler.remote.server_values import EventError

MAX_EVENT_BYTES = 1 << 20
"""1 MiB: an OpenAI chunk or Ollama object is a few hundred bytes; even a long tool-call delta fits."""
_TOO_LONG = f"an event longer than {MAX_EVENT_BYTES >> 20} MiB (the limit for one event)"

_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_WHITESPACE = b"\r\n \t"


class _FramedParser:
    """feed(bytes) -> [(first_byte_offset, payload)] for each complete frame that carries a payload.

    Subclasses say where a frame ends (`_boundary`) and what it carries (`_payload`); the buffer
    and the body offsets that turn into arrival times are kept here, once.
    """

    _LOOKBACK = 3
    """Bytes of the earlier reads a frame's end can begin in (\r\n\r\n is 4 bytes)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the unfinished frame's reads: no frame ends in them
        self._size = 0
        self._tail = b""  # their last _LOOKBACK bytes
        self._buffer_offset = 0  # body offset of the first byte of self._parts
        self.comments = 0

    def feed(self, data: bytes) -> list[tuple[int, str]]:
        if self._parts:  # an unfinished frame: join only once a frame ends (the common read holds whole events)
            bounds = self._boundary(self._tail + data, 0)
            if bounds is None:  # still no end: set the read aside, unsearched
                self._size += len(data)
                if self._size > MAX_EVENT_BYTES:
                    raise EventError(_TOO_LONG)
                self._parts.append(data)
                self._tail = (self._tail + data)[-self._LOOKBACK:]
                return []
            # the first frame's end, found in tail + data, placed in the joined buffer (not searched again)
            shift = self._size - len(self._tail)
            bounds = (bounds[0] + shift, bounds[1] + shift)
            buffer = b"".join([*self._parts, data])
        else:
            buffer = data
            bounds = self._boundary(buffer, 0)
        events: list[tuple[int, str]] = []
        start = 0
        while bounds is not None:
            end, next_start = bounds
            if end - start > MAX_EVENT_BYTES:
                raise EventError(_TOO_LONG)
            self._emit(events, buffer[start:end], start)
            start = next_start
            bounds = self._boundary(buffer, start)
        self._buffer_offset += start
        if start < len(buffer):
            rest = buffer[start:] if start else buffer
            if len(rest) > MAX_EVENT_BYTES:
                raise EventError(_TOO_LONG)
            self._parts, self._size, self._tail = [rest], len(rest), rest[-self._LOOKBACK:]
        elif self._parts:
            self._parts, self._size, self._tail = [], 0, b""
        return events

    def finish(self) -> list[tuple[int, str]]:
        """A last frame the server closed the stream without terminating."""
        block = b"".join(self._parts)
        self._parts, self._size, self._tail = [], 0, b""
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
