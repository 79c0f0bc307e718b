"""What one streamed chunk is, and how a server's JSON event becomes one (OpenAI-compatible, Ollama).

A chunk is a text piece with, where the server says so, the number of tokens in it. Token counts
come from the best source the event carries (see `TOKEN_SOURCES`); chunks whose count is unknown
are counted after the stream ends (accounting.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Best first. The name of the one used is stored on each session (remote_sessions.token_source).
USAGE = "usage_per_chunk"  # stream_options.continuous_usage_stats: completion_tokens on every chunk (vLLM, SGLang)
LOGPROBS = "logprobs"  # one logprobs entry per token
LLAMACPP = "llamacpp_timings"  # llama.cpp's timings_per_token: predicted_n on every chunk
TOKENIZER = "tokenizer"  # a local tokenizer on the joined text (scaled to the server's total when it gives one)
ONE_PER_CHUNK = "one_per_chunk"  # the server's total equals the content chunks: one token each
CHUNKS = "chunks_uncounted"  # no counts at all: each chunk counted as one token, so per-token = per-chunk
TOKEN_SOURCES = (USAGE, LOGPROBS, LLAMACPP, TOKENIZER, ONE_PER_CHUNK, CHUNKS)


@dataclass(slots=True)
class Chunk:
    n: int
    """0-based position among the stream's events."""
    arrival_ns: int
    """perf_counter_ns() when its first byte was read."""
    text: str
    content: bool
    """Carries generated output (text, reasoning or a tool call); role-only and usage-only chunks don't."""
    tokens: int | None = None
    """Tokens in this chunk when the event itself says; None until counted."""
    source: str | None = None
    gc_collections: int = 0
    """Client garbage collections between the previous chunk and this one (they may inflate its gap)."""


@dataclass
class StreamFacts:
    """What the events said about the whole request, besides the chunks."""

    model: str | None = None
    prompt_tokens: int | None = None
    server_tokens: int | None = None
    """The server's own count of generated tokens (usage.completion_tokens, Ollama's eval_count)."""
    finish_reason: str | None = None
    server_timing: dict[str, Any] = field(default_factory=dict)
    """Ollama's durations (ns) and counts from its final object."""
    done: bool = False


class EventError(Exception):
    """The server sent an error event, or an event that isn't what the API says."""



def load_event(payload: str, loads) -> dict:
    """One event's JSON object; a malformed event or an error the server put in the stream is an EventError."""
    try:
        event = loads(payload)
    except ValueError:
        raise EventError(f"malformed event (not JSON): {payload[:80]!r}") from None
    if not isinstance(event, dict):
        raise EventError(f"malformed event (not a JSON object): {payload[:80]!r}")
    if "error" in event:
        error = event["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise EventError(f"server error in the stream: {str(message)[:300]}")
    return event

class OpenAIEvents:
    """Interprets OpenAI-compatible SSE payloads (chat.completion.chunk / text_completion)."""

    def __init__(self) -> None:
        self._usage_so_far = 0
        self._predicted_so_far = 0

    def interpret(self, payload: str, facts: StreamFacts, loads) -> tuple[str, bool, int | None, str | None] | None:
        """(text, content, tokens, source) of one event, or None for [DONE]."""
        if payload.strip() == "[DONE]":
            facts.done = True
            return None
        event = load_event(payload, loads)
        facts.model = facts.model or event.get("model")
        choices = event.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        if choice.get("finish_reason"):
            facts.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if isinstance(delta, dict):  # chat
            text = delta.get("content") or ""
            extra = delta.get("reasoning_content") or delta.get("reasoning") or ""
            content = bool(text or extra or delta.get("tool_calls"))
            text = text or extra
        else:  # completions
            text = choice.get("text") or ""
            content = bool(text)
        tokens, source = self._count(event, choice, content)
        usage = event.get("usage")
        if isinstance(usage, dict):
            facts.prompt_tokens = usage.get("prompt_tokens", facts.prompt_tokens)
            if usage.get("completion_tokens") is not None:
                facts.server_tokens = int(usage["completion_tokens"])
        return text, content, tokens, source

    def _count(self, event: dict, choice: dict, content: bool) -> tuple[int | None, str | None]:
        usage = event.get("usage")
        if content and isinstance(usage, dict) and usage.get("completion_tokens") is not None:
            total = int(usage["completion_tokens"])
            delta, self._usage_so_far = total - self._usage_so_far, total
            return delta, USAGE
        logprobs = choice.get("logprobs")
        if content and isinstance(logprobs, dict):
            entries = logprobs.get("content") if "content" in logprobs else logprobs.get("tokens")
            if isinstance(entries, list):
                return len(entries), LOGPROBS
        timings = event.get("timings")
        if content and isinstance(timings, dict) and timings.get("predicted_n") is not None:
            total = int(timings["predicted_n"])
            delta, self._predicted_so_far = total - self._predicted_so_far, total
            return delta, LLAMACPP
        if content and isinstance(event.get("tokens"), list):
            return len(event["tokens"]), LLAMACPP
        return None, None


OLLAMA_TIMING_KEYS = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                      "eval_duration")


class OllamaEvents:
    """Interprets Ollama's NDJSON objects (/api/generate: `response`; /api/chat: `message.content`)."""

    def interpret(self, payload: str, facts: StreamFacts, loads) -> tuple[str, bool, int | None, str | None] | None:
        event = load_event(payload, loads)
        facts.model = facts.model or event.get("model")
        message = event.get("message")
        if isinstance(message, dict):
            text = message.get("content") or ""
            thinking = message.get("thinking") or ""
            content = bool(text or thinking or message.get("tool_calls"))
        else:
            text = event.get("response") or ""
            thinking = event.get("thinking") or ""
            content = bool(text or thinking)
        if event.get("done"):
            facts.done = True
            facts.finish_reason = event.get("done_reason")
            facts.server_timing = {key: event[key] for key in OLLAMA_TIMING_KEYS if key in event}
            if "eval_count" in event:
                facts.server_tokens = int(event["eval_count"])
            if "prompt_eval_count" in event:
                facts.prompt_tokens = int(event["prompt_eval_count"])
        return text or thinking, content, None, None
