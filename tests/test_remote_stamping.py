"""A chunk is stamped when it reached the machine (the kernel's receive stamp): never before the
server wrote it, and not when a busy event loop got round to it. The other ways of stamping (the
loop's select time, data_received's time) land where the loop's order puts them.

The loop is made busy on purpose: when the role-only opener arrives, a callback is queued that
blocks for a while and queues a second one. The content chunk is sent during the first; the loop's
next turn finds it readable, but runs the second blocker before reading it. Each way of stamping
lands in its own place in that order (order, not a time budget).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest

from profiler.remote import stamping
from profiler.remote.client import RemoteClient
from profiler.remote.options import RemoteOptions
from profiler.remote.requests import request_body
from remote_servers import ServerThread, chat_chunk, sse

pytestmark = pytest.mark.slow
BLOCK_S = 0.3
"""Long: the chunk, sent once the first blocker started, must be in the socket before it ends."""


def two_chunk_app(gate: threading.Event, written: list[int] | None = None):
    """The opener, then (once the client's loop is blocked: `gate`) one content chunk; `written`
    gets perf_counter_ns() taken just before it is written (the server is in this process)."""
    from aiohttp import web

    async def chat(request):
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(chat_chunk(role="assistant")))
        while not gate.is_set():  # sent while the client's first blocker runs, never in one read with the opener
            await asyncio.sleep(0.001)
        if written is not None:
            written.append(time.perf_counter_ns())
        await response.write(sse(chat_chunk("x", usage={"completion_tokens": 1})))
        await response.write(sse("[DONE]"))
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def stream_with_a_busy_loop(url: str, gate: threading.Event) -> tuple[int, int, int]:
    """(the content chunk's stamp, when the first blocker ended, when the second started): perf_counter_ns."""
    options = RemoteOptions(server=url)
    first_ended: list[int] = []
    second_started: list[int] = []

    def second_blocker() -> None:
        second_started.append(time.perf_counter_ns())
        time.sleep(BLOCK_S)

    def first_blocker(loop) -> None:
        gate.set()
        time.sleep(BLOCK_S)
        first_ended.append(time.perf_counter_ns())
        loop.call_soon(second_blocker)  # queued ahead of the read select() is about to report

    async def main():
        loop = asyncio.get_running_loop()
        stamps = []

        def on_chunk(chunk, _sent_ns, _facts) -> None:
            if not chunk.content:
                loop.call_soon(first_blocker, loop)
            else:
                stamps.append(chunk.arrival_ns)

        async with RemoteClient(options, None) as client:
            body = request_body(options, "hi", max_new_tokens=4, ignore_eos=False, temperature=0.0, top_p=1.0, seed=0)
            result = await client.stream(body, time.perf_counter_ns(), lambda: 0, on_chunk)
        assert result.status == "finished", result.error
        return stamps[0]

    with asyncio.Runner(loop_factory=stamping.stamping_event_loop) as runner:
        stamp = runner.run(main())
    return stamp, first_ended[0], second_started[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel receive stamps: Linux's SO_TIMESTAMPNS")
def test_a_chunk_is_stamped_when_it_arrived_however_busy_the_loop(monkeypatch):
    gate, written = threading.Event(), []
    with ServerThread(two_chunk_app(gate, written)) as server:
        stamp, first_ended, _second_started = stream_with_a_busy_loop(server.url, gate)
        assert written[0] <= stamp < first_ended  # it came while the loop was blocked, and says so


def test_the_other_stamps_land_after_the_loop_got_round_to_the_chunk(monkeypatch):
    gate = threading.Event()
    with ServerThread(two_chunk_app(gate)) as server:
        monkeypatch.setattr(stamping, "STAMP_AT", "select")
        stamp, first_ended, second_started = stream_with_a_busy_loop(server.url, gate)
        assert first_ended <= stamp <= second_started
        # stamping inside data_received (without kernel stamps) charges the chunk with the queued work
        monkeypatch.setattr(stamping, "STAMP_AT", "data_received")
        gate.clear()
        stamp, _first_ended, second_started = stream_with_a_busy_loop(server.url, gate)
        assert stamp >= second_started + BLOCK_S * 1e9
