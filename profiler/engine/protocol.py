"""Commands to the engine and events from it: one JSON object per line.

Why JSON lines over the child's stdin/stdout: a reader can follow a session with `cat`, there is no
socket file to create, secure or clean up, and stdin reaching EOF is an unambiguous "the client is
gone" that needs no heartbeat. Every message is a dict with a "type"; the rest are its fields.

Commands (client -> engine):
  load {options}             load a backend from BackendOptions fields (once; later loads are refused)
  encode {text, request}     count the prompt's tokens -> `encoded`
  run {prompt, settings[, settle]}   run a collection with RunSettings fields -> session_* / tokens / run_finished;
                             with settle {ack_timeout_s, gap_ms} each session waits for an `ack` (engine/settle.py);
                             with breakdown "classes" or "layers" a profiled pass follows the timed sessions
                             (profiler/breakdown/after_runs.py; refused for a backend without a local model)
  ack {session_id}           the app's view has drawn that session's start: its timed tokens may begin
  run_remote {prompt, settings, remote}   the same against a server (RemoteOptions fields; no model
                             needs loading): one session per stream, grouped by run id (remote_run.py);
                             a breakdown is refused (the server's forward isn't ours to profile)
  stop {}                    cancel the current run between tokens (it is stored `interrupted`)
  detach {policy}            the client leaves on purpose: "finish" the current run, or "stop" it; then exit
Events (engine -> client):
  hello {pid}                the engine is up
  loading {what, fraction}   load progress
  loaded {info}              BackendInfo fields
  load_failed {error}
  encoded {request, count}
  run_refused {error}        a run that could not start (a prompt too long for the model, ...)
  session_started {session_id, input_tokens, warmup, max_new_tokens}
                             (+ timing "arrival", run_id, concurrency for a remote run's streams)
  tokens {session_id, records}   a batch of TokenRecord fields, coalesced (see events.py); with
                             replace: true, a remote stream's stored tokens replacing the provisional ones
  session_ended {session_id, status, error, warmup, tokens}
  profiling {breakdown}       the timed sessions are stored; the profiled pass (run's breakdown) begins
  breakdown_stored {pass_id, session_ids}   a profiled pass stored apart, linked to those timed sessions
  run_finished {error}
  error {error}              a command the engine could not understand
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from profiler.backends.base import SamplingSettings
from profiler.collect import RunSettings
from profiler.records import TokenRecord

DETACH_FINISH = "finish"
"""Default when the client goes away mid-run: the run goes on to its end and is stored `finished`."""
DETACH_STOP = "stop"
"""The run is cancelled between tokens and stored `interrupted` (the behaviour before the engine)."""
DETACH_POLICIES = (DETACH_FINISH, DETACH_STOP)

_TOKEN_FIELDS = [f.name for f in fields(TokenRecord)]


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()


def decode(line: bytes | str) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("not an engine message")
    return message


def token_to_list(record: TokenRecord) -> list:
    """A token as a positional list: a long run sends thousands, so field names aren't repeated."""
    return [getattr(record, name) for name in _TOKEN_FIELDS]


def token_from_list(values: list) -> TokenRecord:
    return TokenRecord(**dict(zip(_TOKEN_FIELDS, values)))


def settings_to_dict(settings: RunSettings) -> dict[str, Any]:
    return asdict(settings)


def settings_from_dict(data: dict[str, Any]) -> RunSettings:
    data = dict(data)
    data["sampling"] = SamplingSettings(**data.get("sampling", {}))
    return RunSettings(**data)
