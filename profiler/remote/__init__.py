"""Remote servers (OpenAI-compatible and Ollama) profiled token by token from the client's side.

Timing is client arrival: each event is stamped with `perf_counter_ns()` on the event loop the
moment its bytes are read, and nothing slow runs on that loop (store writes go to a writer
thread). Per-token latencies are derived from chunk gaps split over the chunk's tokens; the raw
chunks are stored too. Only argparse-level modules are imported here; aiohttp loads with the client.
"""
