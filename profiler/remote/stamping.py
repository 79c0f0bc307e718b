"""Arrival stamps taken where bytes enter the process, not where a coroutine gets round to them.

With many streams, one event-loop turn can find dozens of sockets readable: aiohttp's protocol
receives each socket's bytes in turn (fast, C parser), and only later does each stream's coroutine
resume to read them. Stamping in the coroutine would charge stream k with the parsing of the k-1
streams served before it. So the connection's protocol stamps each `data_received` with
perf_counter_ns() and the body size reached, and the reader maps an event's first-byte offset
back to that stamp.

What the stamp is (`STAMP_AT`; benchmarks/remote_client.py compares all three):
- `kernel`: when the packet reached the machine. Linux stamps every received packet
  (SO_TIMESTAMPNS) and hands the stamp over with the bytes when they are read with `recvmsg`, so
  the connection's socket reads that way. Neither a busy event loop nor a client process waiting
  for a CPU delays it. CLOCK_REALTIME, turned into perf_counter's clock with the offset read at
  that moment. A read that takes several packets gets the last one's stamp: late for the events
  in the earlier ones, never early. Linux (TCP, with or without TLS); elsewhere `data_received`.
- `select`: when the event loop's `select()` returned. In one loop turn asyncio first runs the
  callbacks already queued (the previous turn's streams resuming to parse their chunks: at 32
  streams ~100 us each), and only then the reads `select()` just reported; the select time is
  when the loop knew the first bytes were there. But the read takes everything in the socket by
  then, so bytes that came during the turn are stamped before they arrived (measured: 1-7 % of
  chunks at 8-128 streams on a loaded 2-core box, by up to 16 ms); and a socket that became
  readable while the loop was busy is seen at the next select, up to one turn late.
  Not used unless asked for: a stamp must never say bytes came before they did.
- `data_received`: when the read's callback ran: charged with all that parsing, never early.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
import socket
import struct
import sys
import time
from typing import Any, Callable

perf_counter_ns = time.perf_counter_ns
time_ns = time.time_ns

STAMP_AT = "kernel"
"""kernel | select | data_received (see above). Only benchmarks/remote_client.py changes it, to
measure the three on the same machine in one run."""
SO_TIMESTAMPNS = 35
"""Linux's value (socket doesn't export the name): SCM_TIMESTAMPNS ancillary data has it too."""
READ_SIZE = 65536
"""Most bytes one read takes (a stream's backlog beyond it is read on the next loop turn)."""
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class KernelStampedSocket:
    """A connection's socket that reads with recvmsg, keeping the kernel's receive stamp of the bytes.

    It stands in for the socket inside asyncio's transport (`transport._sock`), which calls
    `recv()` to read; everything else goes to the socket itself."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.received_ns = 0
        """CLOCK_REALTIME ns of the last packet the latest read consumed; 0 when the kernel gave none."""

    def recv(self, size: int) -> bytes:
        # asyncio asks for 256 KiB a read; allocating that much for a ~300-byte SSE event took 18-22 us
        # a read against 4 us at 64 KiB (measured, Linux/glibc): at 32 streams, a fifth of the loop's time
        data, ancillary, _flags, _address = self._sock.recvmsg(min(size, READ_SIZE), _ANCILLARY_SPACE)
        self._keep_stamp(ancillary)
        return data

    def recv_into(self, buffer, size: int = 0) -> int:
        """What asyncio calls for a buffered protocol (TLS's)."""
        view = memoryview(buffer)
        count, ancillary, _flags, _address = self._sock.recvmsg_into([view[:size] if size else view],
                                                                      _ANCILLARY_SPACE)
        self._keep_stamp(ancillary)
        return count

    def _keep_stamp(self, ancillary: list) -> None:
        self.received_ns = 0
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                self.received_ns = seconds * 1_000_000_000 + nanoseconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def kernel_stamps(transport: Any) -> KernelStampedSocket | None:
    """Turn on the kernel's receive stamps for asyncio's TCP transport (under TLS: the one beneath); None
    where it can't."""
    transport = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None) or transport
    raw = getattr(transport, "_sock", None)  # asyncio's own attributes (selector transports, SSL protocol)
    if STAMP_AT != "kernel" or not sys.platform.startswith("linux") or not isinstance(raw, socket.socket):
        return None
    try:
        raw.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return None
    wrapped = KernelStampedSocket(raw)
    transport._sock = wrapped
    return wrapped


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


def read_stamp(loop: Any, kernel: KernelStampedSocket | None) -> int:
    """perf_counter_ns of the read being handled: the kernel's stamp; without one, now (data_received's
    time: late, never early), or with STAMP_AT = "select" the loop's select time."""
    if kernel is not None and kernel.received_ns:
        return kernel.received_ns - (time_ns() - perf_counter_ns())  # CLOCK_REALTIME -> perf_counter
    if STAMP_AT == "select":
        selector = getattr(loop, "_selector", None)  # asyncio's own attribute
        if isinstance(selector, ReadySelector) and selector.ready_ns:
            return selector.ready_ns
    return perf_counter_ns()


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
            self.kernel: KernelStampedSocket | None = None
            self.last_read = 0.0  # loop time of the newest read (the sock_read timer below)
            self.reader: tuple[Any, Callable[[int], None]] | None = None
            """(payload, read) set by `read_as_it_arrives`: that payload's bytes are read in data_received."""

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.kernel = kernel_stamps(transport)

        # aiohttp cancels and re-arms its sock_read timer on every read (~7 % of the loop's time at 32
        # streams, py-spy). Here one timer stays armed; when it fires it re-arms for what is left since
        # the newest read, and only a real silence of read_timeout seconds ends the stream.
        def _reschedule_timeout(self) -> None:
            self.last_read = self._loop.time()
            if self._read_timeout_handle is None and self._read_timeout:
                self._read_timeout_handle = self._loop.call_later(self._read_timeout, self._on_read_timeout)

        def _on_read_timeout(self) -> None:
            self._read_timeout_handle = None
            if not self._read_timeout:
                return
            left = self.last_read + self._read_timeout - self._loop.time()
            if left > 0:
                self._read_timeout_handle = self._loop.call_later(left, self._on_read_timeout)
            else:
                super()._on_read_timeout()

        def data_received(self, data: bytes) -> None:
            now = read_stamp(self._loop, self.kernel)
            super().data_received(data)
            payload = self._payload
            if payload is None or not data:  # b"": aiohttp resuming its own parser, not a read
                return
            if payload is not self.stamped_payload:  # a new response on this connection
                self.stamped_payload, self.stamps = payload, []
            self.stamps.append((now, payload.total_bytes))
            reader = self.reader
            if reader is not None and reader[0] is payload:
                reader[1](now)

    connector = aiohttp.TCPConnector(**kwargs)
    if hasattr(connector, "_factory"):
        connector._factory = functools.partial(StampingHandler, loop=connector._loop)
    return connector


def read_as_it_arrives(response: Any, on_data: Callable[[bytes, int], None]) -> bool:
    """Hand each read of the response's body to on_data(bytes, read_ns) inside the connection's
    data_received, instead of waking the reading coroutine per read.

    At 32 streams a chunk every 5 ms, the wake-up (a future, a task step, aiohttp's iterator) cost the
    loop about a third of its time per chunk; a loop that falls 5 ms behind lets the kernel merge a
    stream's queued chunks into one stamp (benchmarks/remote_client.py). An exception from on_data
    ends the body with it (the reader's wait_eof() raises it). Returns False where the connection
    isn't a stamping one (then read with iter_any()); call `stop_reading` when done.
    """
    protocol = getattr(getattr(response, "connection", None), "protocol", None)
    if not hasattr(protocol, "reader"):
        return False
    payload = response.content
    reading = [False]

    def read(read_ns: int) -> None:
        if reading[0]:
            return  # aiohttp's read_nowait can resume its parser, which calls data_received again
        reading[0] = True
        try:
            while data := payload.read_nowait(-1):
                on_data(data, read_ns)
        except Exception as exc:  # noqa: BLE001 - handed to the coroutine waiting on the body
            protocol.reader = None
            payload.set_exception(exc)
        finally:
            reading[0] = False

    protocol.reader = (payload, read)
    read(perf_counter_ns())  # what arrived before this was set up
    return True


def stop_reading(response: Any) -> None:
    """Undo `read_as_it_arrives` (the connection goes back to the pool)."""
    protocol = getattr(getattr(response, "connection", None), "protocol", None)
    if getattr(protocol, "reader", None) is not None and protocol.reader[0] is response.content:
        protocol.reader = None


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
