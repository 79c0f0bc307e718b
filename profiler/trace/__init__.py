"""Sessions as a Chrome trace-event timeline (Perfetto, chrome://tracing): see `build.py`.

`build_trace` turns the store's rows into the trace's JSON object; `write_trace` reads sessions
from a store and writes the file through profiler/export_target.py's rules. Spike causes come from
model/ (profiler/ never imports it): the caller passes them in as `SpikeMark`s.
"""

from profiler.trace.build import SpikeMark, TraceSession, build_trace
from profiler.trace.export import TraceResult, read_trace_sessions, write_trace
from profiler.trace.time import ns_from_ms, ns_from_trace_us, trace_us

__all__ = ["SpikeMark", "TraceResult", "TraceSession", "build_trace", "ns_from_ms", "ns_from_trace_us",
           "read_trace_sessions", "trace_us", "write_trace"]
