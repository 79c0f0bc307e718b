"""The schedule server of benchmarks/remote_client.py: OpenAI-style SSE chunks on a known schedule.

Each stream: a role-only chunk, then one content chunk every `interval_ms` (every 4th carrying 3
tokens, per-chunk usage on each) whose text is `<stamp:written>` -- the server's perf_counter_ns()
taken just before the chunk was written (CLOCK_MONOTONIC: the client's clock too) and when the
previous chunk's write returned -- then a closing `<0:written>` chunk, a finish chunk and [DONE].

Two servers send the same bytes on the same schedule:

  raw:     one thread, a selector and a heap of due chunks; each chunk is one send() of a formatted
           string (HTTP/1.1 chunked encoding, keep-alive). A few µs of CPU per chunk, so at 32
           streams x 200 chunks/s it leaves the two cores of a small box to the client it measures.
  aiohttp: aiohttp's web server, a coroutine per stream sleeping until each chunk is due. What this
           benchmark used before; at 32 streams it takes several times the raw server's CPU from the
           client on a 2-core box (remote_client.py --servers raw,aiohttp prints both).

    python benchmarks/schedule_server.py PORT --chunks 200 --interval-ms 5 [--kind raw]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import selectors
import socket
import time

MULTI_EVERY, MULTI_TOKENS = 4, 3
"""Every MULTI_EVERY-th content chunk carries MULTI_TOKENS tokens (the others one)."""
PROMPT_TOKENS = 4


def tokens_in(index: int) -> int:
    return MULTI_TOKENS if index % MULTI_EVERY == MULTI_EVERY - 1 else 1


def event(delta: dict, completion_tokens: int, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, **({"finish_reason": finish} if finish else {})}
    usage = {"completion_tokens": completion_tokens, "prompt_tokens": PROMPT_TOKENS}
    return ("data: " + json.dumps({"object": "chat.completion.chunk", "model": "schedule", "choices": [choice],
                                   "usage": usage}) + "\n\n").encode()


def serve_aiohttp(port: int, chunks: int, interval_ms: float) -> None:
    from aiohttp import web

    async def chat(request):
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        await response.write(event({"role": "assistant"}, 0))
        start = loop.time()
        total = 0
        written = 0  # when the previous chunk's write returned: rides on the next chunk
        for index in range(chunks):
            delay = start + (index + 1) * interval_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            total += tokens_in(index)
            await response.write(event({"content": f"<{time.perf_counter_ns()}:{written}>"}, total))
            written = time.perf_counter_ns()
        # the last write's return time, in a content chunk of no new tokens (usage unchanged)
        await response.write(event({"content": f"<0:{written}>"}, total))
        await response.write(event({}, total, "length"))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def health(_request):
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True, backlog=1024)


class _Connection:
    """One client connection: the request bytes so far, then the stream being sent on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""
        self.index = 0  # the next content chunk
        self.total = 0  # tokens sent so far
        self.written = 0  # when the previous chunk's send returned
        self.start_ns = 0


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _content_template() -> tuple[bytes, bytes, bytes]:
    """The content chunk's event split around its text and its token count, so a chunk costs a format,
    not a json.dumps, in the timed path."""
    marker_text, marker_tokens = "\x00TEXT\x00", 987654321
    whole = event({"content": marker_text}, marker_tokens).decode()
    head, rest = whole.split(json.dumps(marker_text)[1:-1])
    middle, tail = rest.split(str(marker_tokens))
    return head.encode(), middle.encode(), tail.encode()


def serve_raw(port: int, chunks: int, interval_ms: float) -> None:
    interval_ns = int(interval_ms * 1e6)
    head, middle, tail = _content_template()
    selector = selectors.DefaultSelector()
    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    due: list[tuple[int, int, _Connection]] = []  # (due ns, tie-break, connection)
    sequence = 0

    def start_stream(connection: _Connection) -> None:
        nonlocal sequence
        connection.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
                                + _chunked(event({"role": "assistant"}, 0)))
        connection.index = connection.total = connection.written = 0
        connection.start_ns = time.perf_counter_ns()
        sequence += 1
        heapq.heappush(due, (connection.start_ns + interval_ns, sequence, connection))

    def send_due(connection: _Connection) -> None:
        nonlocal sequence
        if connection.index < chunks:
            connection.total += tokens_in(connection.index)
            stamp = time.perf_counter_ns()
            text = b"<%d:%d>" % (stamp, connection.written)
            connection.sock.sendall(_chunked(b"%s%s%s%d%s" % (head, text, middle, connection.total, tail)))
            connection.written = time.perf_counter_ns()
            connection.index += 1
            sequence += 1
            heapq.heappush(due, (connection.start_ns + (connection.index + 1) * interval_ns, sequence, connection))
            return
        closing = (head + b"<0:%d>" % connection.written + middle + b"%d" % connection.total + tail)
        connection.sock.sendall(_chunked(closing) + _chunked(event({}, connection.total, "length"))
                                + _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    def read_request(connection: _Connection) -> None:
        try:
            data = connection.sock.recv(65536)
        except ConnectionError:
            data = b""
        if not data:
            selector.unregister(connection.sock)
            connection.sock.close()
            return
        connection.pending += data
        header_end = connection.pending.find(b"\r\n\r\n")
        if header_end < 0:
            return
        headers = connection.pending[:header_end].decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in headers[1:]
                       if line.lower().startswith("content-length:")), 0)
        if len(connection.pending) < header_end + 4 + length:
            return
        connection.pending = connection.pending[header_end + 4 + length:]
        if headers[0].startswith("GET /health"):
            body = b'{"status": "ok"}'
            connection.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            start_stream(connection)

    while True:
        timeout = max(0.0, (due[0][0] - time.perf_counter_ns()) / 1e9) if due else None
        for key, _ in selector.select(timeout):
            if key.fileobj is listener:
                try:
                    sock, _ = listener.accept()
                except BlockingIOError:
                    continue
                sock.setblocking(True)  # sendall waits only if the client stops reading for MBs
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(sock, selectors.EVENT_READ, _Connection(sock))
            else:
                read_request(key.data)
        now = time.perf_counter_ns()
        while due and due[0][0] <= now:
            _, _, connection = heapq.heappop(due)
            try:
                send_due(connection)
            except OSError:
                pass  # the client went away mid-stream: its chunks are no longer due
            now = time.perf_counter_ns()


SERVERS = {"raw": serve_raw, "aiohttp": serve_aiohttp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--interval-ms", type=float, required=True)
    parser.add_argument("--kind", choices=sorted(SERVERS), default="raw")
    args = parser.parse_args()
    try:
        SERVERS[args.kind](args.port, args.chunks, args.interval_ms)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
