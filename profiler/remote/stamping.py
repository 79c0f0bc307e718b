"""Arrival stamps taken where bytes enter the process, not where a coroutine gets round to them.

With many streams, one event-loop turn can find dozens of sockets readable: aiohttp's protocol
receives each socket's bytes in turn (fast, C parser), and only later does each stream's coroutine
resume to read them. Stamping in the coroutine would charge stream k with the parsing of the k-1
streams served before it. So the connection's protocol stamps each `data_received` with
perf_counter_ns() and the body size reached, and the reader maps an event's first-byte offset
back to that stamp.

And the stamp is when the event loop's `select()` returned, not when `data_received` ran. In one
loop turn asyncio first runs the callbacks already queued (the previous turn's streams resuming
to parse their chunks: at 32 streams ~100 us each), and only then the reads `select()` just
reported. Stamping inside `data_received` charged a chunk that was waiting in the socket with all
that parsing; the turn's select time is when the loop knew the bytes were there (measured with
benchmarks/remote_client.py, which compares both stamps). What remains is a socket that became
readable while the loop was busy: it is seen at the next select, up to one turn late.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
import time
from typing import Any

perf_counter_ns = time.perf_counter_ns

STAMP_AT_SELECT = True
"""False: stamp when data_received runs (the old way). Only benchmarks/remote_client.py flips it,
to measure both on the same machine in one run."""


class ReadySelector(selectors.DefaultSelector):
    """The platform's selector, noting when each select() returned."""

    ready_ns = 0

    def select(self, timeout=None):
        events = super().select(timeout)
        self.ready_ns = perf_counter_ns()
        return events


def stamping_event_loop() -> asyncio.AbstractEventLoop:
    """The loop a remote run uses (asyncio.Runner(loop_factory=...)): a selector loop whose select
    times the stamping connections read."""
    return asyncio.SelectorEventLoop(ReadySelector())


def _select_time(loop: Any) -> int | None:
    selector = getattr(loop, "_selector", None)  # asyncio's own attribute; any other loop: None
    if STAMP_AT_SELECT and isinstance(selector, ReadySelector) and selector.ready_ns:
        return selector.ready_ns
    return None


def stamping_connector(**kwargs: Any):
    """An aiohttp TCPConnector whose connections stamp their reads (plain reads if aiohttp changed)."""
    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    class StampingHandler(ResponseHandler):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self.stamped_payload = None
            self.stamps: list[tuple[int, int]] = []
            """(perf_counter_ns, body bytes received by then) for the current response."""

        def data_received(self, data: bytes) -> None:
            now = _select_time(self._loop) or perf_counter_ns()
            super().data_received(data)
            payload = self._payload
            if payload is None:
                return
            if payload is not self.stamped_payload:  # a new response on this connection
                self.stamped_payload, self.stamps = payload, []
            self.stamps.append((now, payload.total_bytes))

    connector = aiohttp.TCPConnector(**kwargs)
    if hasattr(connector, "_factory"):
        connector._factory = functools.partial(StampingHandler, loop=connector._loop)
    return connector


class ArrivalMap:
    """Body offset -> when that byte arrived, for one response."""

    def __init__(self, response: Any) -> None:
        protocol = getattr(getattr(response, "connection", None), "protocol", None)
        stamps = getattr(protocol, "stamps", None)
        self._stamps = stamps if getattr(protocol, "stamped_payload", None) is response.content else None
        self._index = 0

    def arrival_ns(self, offset: int, fallback_ns: int) -> int:
        """Stamp of the read that delivered body byte `offset` (offsets are asked in increasing order)."""
        stamps = self._stamps
        if not stamps:
            return fallback_ns
        index = self._index
        while index < len(stamps) and stamps[index][1] <= offset:
            index += 1
        self._index = index
        return stamps[index][0] if index < len(stamps) else fallback_ns
