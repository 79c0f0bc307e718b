"""A chunk waiting in its socket is stamped when the event loop's select() saw it, not after the
callbacks queued before its read ran (at many streams: the other streams' parsing).

The loop is made busy on purpose: when the role-only opener arrives, a callback is queued that
blocks for a while and queues a second one. The content chunk arrives during the first; the loop's
next turn finds it readable, but runs the second blocker before reading it. The chunk's stamp must
come before that second blocker started (order, not a time budget).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from profiler.remote import stamping
from profiler.remote.client import RemoteClient
from profiler.remote.options import RemoteOptions
from profiler.remote.requests import request_body
from remote_servers import ServerThread, chat_chunk, sse

pytestmark = pytest.mark.slow
BLOCK_S = 0.2
"""Long against the server's 10 ms: the chunk must be in the socket before the first blocker ends."""


def two_chunk_app():
    from aiohttp import web

    async def chat(request):
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(chat_chunk(role="assistant")))
        await asyncio.sleep(0.01)  # arrives while the client's first blocker runs
        await response.write(sse(chat_chunk("x", usage={"completion_tokens": 1})))
        await response.write(sse("[DONE]"))
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def stream_with_a_busy_loop(url: str) -> tuple[int, int]:
    """(the content chunk's stamp, when the second blocker started), both perf_counter_ns."""
    options = RemoteOptions(server=url)
    second_started: list[int] = []

    def second_blocker() -> None:
        second_started.append(time.perf_counter_ns())
        time.sleep(BLOCK_S)

    def first_blocker(loop) -> None:
        time.sleep(BLOCK_S)
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
    return stamp, second_started[0]


def test_a_waiting_chunk_is_stamped_when_select_saw_it_not_after_queued_work(monkeypatch):
    with ServerThread(two_chunk_app()) as server:
        stamp, second_started = stream_with_a_busy_loop(server.url)
        assert stamp <= second_started
        # the way before (stamping inside data_received) charges the chunk with the queued work
        monkeypatch.setattr(stamping, "STAMP_AT_SELECT", False)
        stamp, second_started = stream_with_a_busy_loop(server.url)
        assert stamp >= second_started + BLOCK_S * 1e9
