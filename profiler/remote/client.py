"""One streamed request on aiohttp, each event stamped with perf_counter_ns() as its bytes are read.

Only stamping, parsing and queueing happen on the event loop: counting tokens, deriving
latencies happen on the sink's shipper thread, writing the store in its writer process (sink.py).

A server's reply is outside input: it ends `finished` only when it ended the way its API says
(OpenAI: `data: [DONE]`; Ollama: `"done": true`), or, for OpenAI-compatible servers that never send
[DONE] (`transformers serve`), with a finish_reason and an HTTP body that ended where its framing
says (chunked or Content-Length), which is kept as a note. A body cut by a closed or reset connection,
an empty reply, a reply that isn't an event stream, an event over the size limit or a value that
isn't what the API says ends `failed` with the chunks that came and one line. Reading is watched
(`_watched`): --stream-timeout seconds without a byte, or a connection that closed while the body
waits for more, ends it however aiohttp's reader is stuck.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.printable import printable_line
from profiler.records import FAILED, FINISHED, INTERRUPTED
from profiler.remote.chunks import Chunk, EventError, OllamaEvents, OpenAIEvents, StreamFacts
from profiler.remote.errors import STALL, STREAM, RemoteError, describe_client_error, describe_http_error, scrub, \
    where
from profiler.remote.events import NdjsonParser, SseParser
from profiler.remote.options import RemoteOptions
from profiler.remote.requests import request_headers, request_url
from profiler.remote.stamping import ArrivalMap, read_as_it_arrives, stamping_connector, stop_reading

perf_counter_ns = time.perf_counter_ns

WATCH_S = 0.25
"""How often a stream's reading is checked for silence or a closed connection (one timer per stream)."""
MAX_ERROR_BODY = 64 * 1024
"""Bytes of an HTTP error reply read for its message (a server could send an endless one)."""
STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "text/plain", "application/octet-stream")
"""Content types a streamed reply may have (aiohttp says application/octet-stream when none is given)."""


@dataclass
class StreamResult:
    """What the loop knows when a stream ends (the token-level results go to the store)."""

    status: str = FAILED
    error: str | None = None
    error_kind: str | None = None
    http_status: int | None = None
    scheduled_ns: int = 0
    sent_ns: int | None = None
    ended_ns: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    facts: StreamFacts = field(default_factory=StreamFacts)
    note: str | None = None
    """Something worth keeping about a stream that still finished (it ended without [DONE])."""


def _stamp_sent(_session: Any, context: Any, _params: Any) -> Any:
    context.trace_request_ctx["sent_ns"] = perf_counter_ns()  # the last body write is "sent"

    async def done() -> None: ...

    return done()


class RemoteClient:
    """An aiohttp session shared by every stream of a run (one connection pool)."""

    def __init__(self, options: RemoteOptions, api_key: str | None) -> None:
        self.options = options
        self._api_key = api_key
        self.url = request_url(options)
        self._headers = request_headers(api_key)
        self._session = None

    async def __aenter__(self) -> RemoteClient:
        import aiohttp

        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_stamp_sent)
        trace.on_request_chunk_sent.append(_stamp_sent)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.options.connect_timeout,
                                        sock_read=self.options.stream_timeout)
        connector = stamping_connector(limit=0, ssl=False if self.options.insecure else True)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace],
                                              auto_decompress=True)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def stream(self, body: dict[str, Any], scheduled_ns: int, gc_count: Callable[[], int],
                     on_chunk: Callable[[Chunk, int, StreamFacts], None],
                     max_new_tokens: int | None = None) -> StreamResult:
        """Send one request and read its stream to the end; never raises (the result says what happened).

        on_chunk(chunk, sent_ns, facts) is called on the loop for each event as it is parsed: keep it cheap.
        """
        import aiohttp

        result = StreamResult(scheduled_ns=scheduled_ns)
        ollama = self.options.api == "ollama"
        parser = NdjsonParser() if ollama else SseParser()
        interpreter = OllamaEvents() if ollama else OpenAIEvents(max_new_tokens)
        facts, chunks, loads = result.facts, result.chunks, json.loads
        context: dict[str, int] = {}
        posted_ns = perf_counter_ns()
        try:
            async with self._session.post(self.url, json=body, headers=self._headers,
                                          trace_request_ctx=context) as response:
                sent_ns = result.sent_ns = context.get("sent_ns", posted_ns)
                result.http_status = response.status
                protocol = getattr(response.connection, "protocol", None)
                last_read = [perf_counter_ns()]
                if response.status >= 400:
                    text = await self._watched(self._error_body(response), response, protocol, last_read, chunks)
                    raise describe_http_error(response.status, response.reason, text)
                if not ollama and response.content_type == "application/json":
                    # a server that ignored stream: true would otherwise read as a stream of no chunks
                    raise RemoteError("the server answered with one JSON body, not an event stream "
                                      "(does this endpoint stream?)", STREAM)
                if response.content_type not in STREAM_TYPES and not (ollama and "json" in response.content_type):
                    raise RemoteError(f"the server answered {response.status} with Content-Type "
                                      f"{printable_line(response.content_type[:80])}, not an event stream", STREAM)
                gc_before = gc_count()
                arrivals = None

                def handle(events: list[tuple[int, str]], read_ns: int) -> None:
                    nonlocal gc_before
                    for offset, payload in events:
                        arrival_ns = arrivals.arrival_ns(offset, read_ns)
                        parsed = interpreter.interpret(payload, facts, loads)
                        if parsed is None:
                            continue
                        gcs = gc_count()
                        chunk = Chunk(len(chunks), arrival_ns, parsed[0], parsed[1], parsed[2], parsed[3],
                                      gcs - gc_before)
                        gc_before = gcs
                        chunks.append(chunk)
                        on_chunk(chunk, sent_ns, facts)

                def on_data(data: bytes, read_ns: int) -> None:
                    nonlocal arrivals
                    last_read[0] = read_ns
                    if arrivals is None:  # once the connection has stamped this body's first read
                        arrivals = ArrivalMap(response)
                    handle(parser.feed(data), read_ns)

                body = response.content
                if read_as_it_arrives(response, on_data):
                    try:
                        if body.exception() is None:
                            await self._watched(body.wait_eof(), response, protocol, last_read, chunks)
                        on_data(body.read_nowait(-1), perf_counter_ns())  # raises what on_data raised
                    finally:
                        stop_reading(response)
                else:
                    async def read_all() -> None:
                        async for data in body.iter_any():
                            on_data(data, perf_counter_ns())

                    await self._watched(read_all(), response, protocol, last_read, chunks)
                if arrivals is None:
                    arrivals = ArrivalMap(response)
                handle(parser.finish(), perf_counter_ns())
                result.note = self._check_end(response, facts, chunks, ollama)
            result.status = FINISHED
        except asyncio.CancelledError:
            result.status, result.error = INTERRUPTED, "cancelled"
        except RemoteError as exc:
            result.status, result.error, result.error_kind = FAILED, str(exc), exc.kind
        except EventError as exc:
            result.status, result.error, result.error_kind = FAILED, f"{exc} (after {len(chunks)} chunks)", STREAM
        except asyncio.TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                error = describe_client_error(exc, self.url)
                result.status, result.error, result.error_kind = FAILED, str(error), error.kind
            else:  # sock_read: nothing for --stream-timeout seconds
                result.status, result.error_kind = INTERRUPTED, STALL
                result.error = (f"stream stalled: no data for {self.options.stream_timeout:g} s "
                                f"after {len(chunks)} chunks")
        except aiohttp.ClientError as exc:
            error = describe_client_error(exc, self.url)
            result.status, result.error, result.error_kind = FAILED, str(error), error.kind
        except RecursionError:  # a JSON value nested too deep for the parser (load_event catches most)
            result.status, result.error, result.error_kind = FAILED, "malformed event (nested too deep)", STREAM
        result.ended_ns = perf_counter_ns()
        if result.error:
            result.error = scrub(result.error, self._api_key)
        return result

    def _check_end(self, response: Any, facts: StreamFacts, chunks: list[Chunk], ollama: bool) -> str | None:
        """Raise RemoteError when a body that ended cleanly still isn't a whole stream; a note when it is
        one without the API's end mark."""
        if facts.done:
            return None
        if not chunks:
            raise RemoteError(f"the server's {response.status} reply held no events (an empty stream)", STREAM)
        if ollama:
            raise RemoteError(f'the stream ended without its final "done" object after {len(chunks)} chunks', STREAM)
        framed = "chunked" in response.headers.get("Transfer-Encoding", "").lower() or \
            response.headers.get("Content-Length") is not None
        if facts.finish_reason and framed:
            return f"the stream ended without [DONE] (finish_reason {facts.finish_reason}, the HTTP body complete)"
        missing = "[DONE]" if facts.finish_reason else "[DONE] or a finish_reason"
        how = "" if framed else " (the server closed the connection)"
        raise RemoteError(f"the stream ended without {missing} after {len(chunks)} chunks{how}", STREAM)

    async def _error_body(self, response: Any) -> str:
        data = b""
        while len(data) < MAX_ERROR_BODY and not response.content.at_eof():
            data += await response.content.read(MAX_ERROR_BODY - len(data))
        return data.decode(response.get_encoding() if response.charset else "utf-8", errors="replace")

    async def _watched(self, reading, response: Any, protocol: Any, last_read: list[int], chunks: list[Chunk]):
        """Await `reading` while --stream-timeout seconds pass without a read, and while the connection is
        open. aiohttp can wait for ever on a body whose connection is gone (an invalid chunk-size line
        followed by the server closing: its read timer was dropped with the parser's error)."""
        task = asyncio.ensure_future(reading)
        timeout_ns = int(self.options.stream_timeout * 1e9)
        closed_checks = 0
        try:
            while True:
                done, _ = await asyncio.wait((task,), timeout=min(WATCH_S, self.options.stream_timeout))
                if done:
                    return task.result()
                if perf_counter_ns() - last_read[0] >= timeout_ns:
                    raise asyncio.TimeoutError()  # reported as a stall, like aiohttp's own read timeout
                if protocol is not None and not protocol.is_connected() and not response.content.is_eof():
                    closed_checks += 1
                    if closed_checks >= 2:  # a whole interval after the close: nothing more is coming
                        raise RemoteError(f"{where(self.url)} closed the connection before the stream ended "
                                          f"(after {len(chunks)} chunks; its last bytes were not a valid HTTP body)",
                                          STREAM)
        finally:
            if not task.done():
                task.cancel()
