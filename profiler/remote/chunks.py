"""What one streamed chunk is, and how a server's JSON event becomes one (OpenAI-compatible, Ollama).

A chunk is a text piece with, where the server says so, the number of tokens in it. Token counts
come from the best source the event carries (see `TOKEN_SOURCES`); chunks whose count is unknown
are counted after the stream ends (accounting.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.printable import printable_line
from profiler.remote.server_values import COUNT_MARGIN, EventError, count, count_limit, label, shown, text
from profiler.store.schema import SQLITE_MAX_INTEGER

# Best first. The name of the one used is stored on each session (remote_sessions.token_source).
USAGE = "usage_per_chunk"  # stream_options.continuous_usage_stats: completion_tokens on every chunk (vLLM, SGLang)
LOGPROBS = "logprobs"  # one logprobs entry per token
LLAMACPP = "llamacpp_timings"  # llama.cpp's timings_per_token: predicted_n on every chunk
TOKENIZER = "tokenizer"  # a local tokenizer on the joined text (scaled to the server's total when it gives one)
ONE_PER_CHUNK = "one_per_chunk"  # the server's total equals the content chunks: one token each
SPLIT_BY_TEXT = "server_total_split_by_text"  # only a (believed) total: split over the content chunks by text length
CHUNKS = "chunks_uncounted"  # no counts at all: each chunk counted as one token, so per-token = per-chunk
TOKEN_SOURCES = (USAGE, LOGPROBS, LLAMACPP, TOKENIZER, ONE_PER_CHUNK, SPLIT_BY_TEXT, CHUNKS)
PROVISIONAL = "provisional_one_per_chunk"
"""A stream not yet counted (or whose run was killed): the tokens stored so far are the chunks' own counts, or one per
chunk that gave none; replaced when the stream ends and is counted."""


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
    """The API's end-of-stream mark came: OpenAI's `data: [DONE]`, Ollama's `"done": true`."""
    count_refused: str | None = None
    """Why the server's per-chunk counts were not believed (server_values.py), when they weren't."""


def load_event(payload: str, loads) -> dict:
    """One event's JSON object; a malformed event or an error the server put in the stream is an EventError."""
    try:
        event = loads(payload)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise EventError(f"malformed event (not JSON): {shown(payload[:80])}") from None
    if not isinstance(event, dict):
        raise EventError(f"malformed event (not a JSON object): {shown(payload[:80])}")
    if "error" in event:
        error = event["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise EventError(f"server error in the stream: {printable_line(str(message)[:300])}")
    return event


class OpenAIEvents:
    """Interprets OpenAI-compatible SSE payloads (chat.completion.chunk / text_completion).

    Per-chunk counts are believed only while their running total stays within what the text so far
    can hold (server_values.py): 4 bytes a character at most, and --max-new-tokens, each plus the margin.
    Beyond that every later chunk is left uncounted and `facts.count_refused` says why, so a claim of
    10**18 tokens never turns into 10**18 records.
    """

    def __init__(self, max_new_tokens: int | None = None) -> None:
        self._usage_so_far = 0
        self._predicted_so_far = 0
        self._max_new_tokens = max_new_tokens
        self._token_cap = COUNT_MARGIN + (max_new_tokens if max_new_tokens is not None else SQLITE_MAX_INTEGER)
        self._counted = 0  # tokens the per-chunk counts gave so far
        self._chars = 0  # characters of content so far
        self._refused = False

    def interpret(self, payload: str, facts: StreamFacts, loads) -> tuple[str, bool, int | None, str | None] | None:
        """(text, content, tokens, source) of one event, or None for [DONE]."""
        if payload.strip() == "[DONE]":
            facts.done = True
            return None
        event = load_event(payload, loads)
        facts.model = facts.model or label(event.get("model"))
        choices = event.get("choices") or []
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        if choice.get("finish_reason"):
            facts.finish_reason = label(choice["finish_reason"]) or "unknown"
        delta = choice.get("delta")
        # text() checks each piece is a string (the cheap `type(...) is str` first: this runs for every event)
        if isinstance(delta, dict):  # chat
            piece = delta.get("content") or ""
            if type(piece) is not str:
                piece = text(piece, "delta.content")
            extra = delta.get("reasoning_content") or delta.get("reasoning") or ""
            if type(extra) is not str:
                extra = text(extra, "delta.reasoning_content")
            content = bool(piece or extra or delta.get("tool_calls"))
            piece = piece or extra
        else:  # completions
            piece = choice.get("text") or ""
            if type(piece) is not str:
                piece = text(piece, "choices[0].text")
            content = bool(piece)
        usage = event.get("usage")
        total = None
        if usage:
            if type(usage) is not dict:
                raise EventError(f"the server sent usage = {shown(usage)} (not an object)")
            prompt = usage.get("prompt_tokens")
            if prompt is not None:
                facts.prompt_tokens = count(prompt, "usage.prompt_tokens")
            total = usage.get("completion_tokens")
            if total is not None:
                total = facts.server_tokens = count(total, "usage.completion_tokens")
        tokens, source = self._count(event, choice, total, content)
        if content:
            self._chars += len(piece)
            if tokens is not None:
                tokens = self._credible(tokens, source, facts)
        return piece, content, tokens, source

    def _credible(self, tokens: int, source: str, facts: StreamFacts) -> int | None:
        """The chunk's count, or None once the counts claim more than the text can hold."""
        if self._refused:
            return None
        self._counted += tokens
        if self._counted <= COUNT_MARGIN + 4 * self._chars and self._counted <= self._token_cap:
            return tokens
        limit = count_limit(4 * self._chars, self._max_new_tokens)
        self._refused = True
        facts.count_refused = (f"server count refused: per-chunk {source} counts reached {self._counted} tokens, "
                               f"more than the text so far can hold ({limit}); counted from the chunks")
        return None

    def _count(self, event: dict, choice: dict, total: int | None, content: bool) -> tuple[int | None, str | None]:
        """total: this event's usage.completion_tokens (checked), when it has one."""
        if content and total is not None:
            if total < self._usage_so_far:
                raise EventError(f"the server's usage.completion_tokens went down ({self._usage_so_far} -> {total})")
            delta, self._usage_so_far = total - self._usage_so_far, total
            return delta, USAGE
        logprobs = choice.get("logprobs")
        if content and isinstance(logprobs, dict):
            entries = logprobs.get("content") if "content" in logprobs else logprobs.get("tokens")
            if isinstance(entries, list):
                return len(entries), LOGPROBS
        timings = event.get("timings")
        if content and isinstance(timings, dict) and timings.get("predicted_n") is not None:
            total = count(timings["predicted_n"], "timings.predicted_n")
            if total < self._predicted_so_far:
                raise EventError(f"the server's timings.predicted_n went down ({self._predicted_so_far} -> {total})")
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
        facts.model = facts.model or label(event.get("model"))
        message = event.get("message")
        if isinstance(message, dict):
            piece = text(message.get("content"), "message.content")
            thinking = text(message.get("thinking"), "message.thinking")
            content = bool(piece or thinking or message.get("tool_calls"))
        else:
            piece = text(event.get("response"), "response")
            thinking = text(event.get("thinking"), "thinking")
            content = bool(piece or thinking)
        if event.get("done"):
            facts.done = True
            facts.finish_reason = label(event.get("done_reason"))
            facts.server_timing = {key: count(event[key], key) for key in OLLAMA_TIMING_KEYS
                                   if event.get(key) is not None}
            facts.server_tokens = facts.server_timing.get("eval_count")
            facts.prompt_tokens = facts.server_timing.get("prompt_eval_count", facts.prompt_tokens)
        return piece or thinking, content, None, None
