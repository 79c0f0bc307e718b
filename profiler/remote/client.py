"""One streamed request on aiohttp, each event stamped with perf_counter_ns() as its bytes are read.

Only stamping, parsing and queueing happen on the event loop: counting tokens, deriving
latencies happen on the sink's shipper thread, writing the store in its writer process (sink.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.records import FAILED, FINISHED, INTERRUPTED
from profiler.remote.chunks import Chunk, EventError, OllamaEvents, OpenAIEvents, StreamFacts
from profiler.remote.errors import STALL, STREAM, RemoteError, describe_client_error, describe_http_error, scrub
from profiler.remote.events import NdjsonParser, SseParser
from profiler.remote.options import RemoteOptions
from profiler.remote.requests import request_headers, request_url
from profiler.remote.stamping import ArrivalMap, read_as_it_arrives, stamping_connector, stop_reading

perf_counter_ns = time.perf_counter_ns


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
                     on_chunk: Callable[[Chunk, int, StreamFacts], None]) -> StreamResult:
        """Send one request and read its stream to the end; never raises (the result says what happened).

        on_chunk(chunk, sent_ns, facts) is called on the loop for each event as it is parsed: keep it cheap.
        """
        import aiohttp

        result = StreamResult(scheduled_ns=scheduled_ns)
        ollama = self.options.api == "ollama"
        parser = NdjsonParser() if ollama else SseParser()
        interpreter = OllamaEvents() if ollama else OpenAIEvents()
        facts, chunks, loads = result.facts, result.chunks, json.loads
        context: dict[str, int] = {}
        posted_ns = perf_counter_ns()
        try:
            async with self._session.post(self.url, json=body, headers=self._headers,
                                          trace_request_ctx=context) as response:
                sent_ns = result.sent_ns = context.get("sent_ns", posted_ns)
                result.http_status = response.status
                if response.status >= 400:
                    text = await response.text(errors="replace")
                    raise describe_http_error(response.status, response.reason, text)
                if not ollama and response.content_type == "application/json":
                    # a server that ignored stream: true would otherwise read as a stream of no chunks
                    raise RemoteError("the server answered with one JSON body, not an event stream "
                                      "(does this endpoint stream?)", STREAM)
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
                    if arrivals is None:  # once the connection has stamped this body's first read
                        arrivals = ArrivalMap(response)
                    handle(parser.feed(data), read_ns)

                body = response.content
                if read_as_it_arrives(response, on_data):
                    try:
                        if body.exception() is None:
                            await body.wait_eof()
                        on_data(body.read_nowait(-1), perf_counter_ns())  # raises what on_data raised
                    finally:
                        stop_reading(response)
                else:
                    async for data in body.iter_any():
                        on_data(data, perf_counter_ns())
                if arrivals is None:
                    arrivals = ArrivalMap(response)
                handle(parser.finish(), perf_counter_ns())
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
        result.ended_ns = perf_counter_ns()
        if result.error:
            result.error = scrub(result.error, self._api_key)
        return result
