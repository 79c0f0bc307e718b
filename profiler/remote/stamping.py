"""Arrival stamps taken where bytes enter the process, not where a coroutine gets round to them.

With many streams, one event-loop turn can find dozens of sockets readable: aiohttp's protocol
receives each socket's bytes in turn (fast, C parser), and only later does each stream's coroutine
resume to read them. Stamping in the coroutine would charge stream k with the parsing of the k-1
streams served before it. So the connection's protocol stamps each `data_received` with
perf_counter_ns() and the body size reached, and the reader maps an event's first-byte offset
back to that stamp.
"""

from __future__ import annotations

import functools
import time
from typing import Any

perf_counter_ns = time.perf_counter_ns


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
            now = perf_counter_ns()
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
