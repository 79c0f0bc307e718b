"""From stamped chunks to tokens: how many tokens each chunk holds, and each token's derived latency.

Per-token latency of a remote stream is *derived*: a chunk's gap (arrival minus the previous
counted chunk's arrival) split evenly over the tokens in it, so a chunk of 3 tokens after 30 ms
reads as three 10 ms tokens, not one 30 ms token (vLLM's bench serve makes that mistake, vllm#27485).
TTFT is the time from the request being sent to the first chunk that carries content and tokens
(a role-only opener doesn't count, vllm#3759). Extra tokens that share the first chunk arrived
with it: they are stored as prefill with 0 ms, kept out of decode statistics.
"""

from __future__ import annotations

from typing import Any, Sequence

from profiler.records import DECODE, PREFILL, TokenRecord
from profiler.remote.chunks import CHUNKS, ONE_PER_CHUNK, SPLIT_BY_TEXT, TOKENIZER, Chunk
from profiler.remote.server_values import refusal


def count_tokens(chunks: Sequence[Chunk], server_tokens: int | None, tokenizer: Any = None, *,
                 max_new_tokens: int | None = None, refused: str | None = None) -> tuple[list[int], str, str | None]:
    """Tokens in each chunk, the source of the counts (best available), and a note when the server's
    count was refused (server_values.py). Never fewer tokens than a believed server total says.

    `refused`: why the per-chunk counts the events carried were not believed (then they are ignored).
    """
    content = [c for c in chunks if c.content]
    if refused is None and content and all(c.tokens is not None for c in content):
        sources = {c.source for c in content}
        return [c.tokens or 0 for c in chunks], "+".join(sorted(s for s in sources if s)), None
    note = refused
    sizes: list[int] = []  # UTF-8 bytes of each content chunk's text: the refusal's bound and split_by_text's weights
    if server_tokens is not None and content:
        sizes = [len(c.text.encode("utf-8", "surrogatepass")) for c in content]
        why = refusal(server_tokens, sum(sizes), max_new_tokens, "completion_tokens")
        if why is not None:
            server_tokens, note = None, why
    if tokenizer is not None and content:
        local = _tokenizer_counts(chunks, tokenizer)
        if server_tokens and sum(local):
            return _fit_to_total(local, chunks, server_tokens), f"{TOKENIZER}(fitted to server total)", note
        if sum(local):
            return local, TOKENIZER, note
    ones = [1 if c.content else 0 for c in chunks]
    if server_tokens is not None and server_tokens == len(content):
        return ones, ONE_PER_CHUNK, note
    if server_tokens is not None and server_tokens > len(content):
        return split_by_text(chunks, server_tokens, sizes), SPLIT_BY_TEXT, note
    return ones, CHUNKS, note  # no total, or fewer tokens than content chunks: each chunk counts one


def split_by_text(chunks: Sequence[Chunk], total: int, weights: list[int]) -> list[int]:
    """The server's total over the content chunks, by the UTF-8 length of their text, each at least 1.

    For servers that give only a final total (TGI, transformers serve, many proxies) and no tokenizer:
    a chunk of 6 bytes after one of 2 most likely held more of the tokens. Largest remainders, so the
    counts add up to `total` exactly. `total` is at least the number of content chunks (the caller's
    check) and within what the text can hold (server_values.refusal), so nothing here is unbounded.
    `weights`: each content chunk's text in UTF-8 bytes (the caller has them for that check).
    """
    content = [i for i, c in enumerate(chunks) if c.content]
    counts = [0] * len(chunks)
    whole = sum(weights)
    if not whole:
        weights, whole = [1] * len(content), len(content)
    # each chunk's share of the total in proportion to its bytes (integer arithmetic: exact for any total)
    base = {i: max(1, total * w // whole) for i, w in zip(content, weights)}
    remainder = {i: total * w % whole - (whole if base[i] > total * w // whole else 0) for i, w in zip(content, weights)}
    left = total - sum(base.values())
    if left > 0:  # what flooring dropped: one more to the largest remainders (fewer than the chunks)
        for i in sorted(content, key=lambda i: (-remainder[i], i))[:left]:
            base[i] += 1
    while left < 0:  # chunks raised to 1 took more than their share: take it back from the most over-served
        over = [i for i in sorted(content, key=lambda i: (remainder[i], -base[i], i)) if base[i] > 1][:-left]
        for i in over:
            base[i] -= 1
            remainder[i] += whole
        left += len(over)
    for i in content:
        counts[i] = base[i]
    return counts


def _tokenizer_counts(chunks: Sequence[Chunk], tokenizer: Any) -> list[int]:
    """Tokenise the joined text once (re-tokenising each piece apart miscounts: llama-benchy#18) and
    give each token to the chunk holding its last character."""
    ends, position = [], 0
    for chunk in chunks:
        position += len(chunk.text) if chunk.content else 0
        ends.append(position)
    text = "".join(c.text for c in chunks if c.content)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    counts = [0] * len(chunks)
    index = 0
    for _start, end in encoded["offset_mapping"]:
        while index < len(chunks) - 1 and end > ends[index]:
            index += 1
        counts[index] += 1
    return counts


def _fit_to_total(local: list[int], chunks: Sequence[Chunk], total: int) -> list[int]:
    """The local counts made to add up to the server's total, changing as few chunks as possible.

    Every content chunk holds at least one token. The local tokenizer overcounts where the server's
    text differs from its tokens (an invalid byte arrives as U+FFFD, three bytes when re-encoded):
    the surplus comes off the fullest chunks; a shortfall goes to the chunks the tokenizer found fullest.
    """
    counts = [max(count, 1) if chunk.content else 0 for count, chunk in zip(local, chunks)]
    by_fullness = sorted((i for i, c in enumerate(chunks) if c.content), key=lambda i: (-local[i], i))
    surplus = sum(counts) - total
    while surplus > 0:
        index = max(range(len(counts)), key=lambda i: counts[i])
        if counts[index] <= 1:
            break  # more content chunks than tokens: the server's total can't be honoured
        counts[index] -= 1
        surplus -= 1
    if surplus < 0 and by_fullness:  # round-robin over the fullest chunks, in whole rounds first
        rounds, rest = divmod(-surplus, len(by_fullness))
        for position, index in enumerate(by_fullness):
            counts[index] += rounds + (1 if position < rest else 0)
    return counts


class TokenDeriver:
    """Token records from counted chunks, one chunk at a time (live while streaming, or all at the end).

    k = 1 carries TTFT (request sent -> its chunk); each later chunk's gap since the previous
    counted chunk is split evenly over its tokens.
    """

    def __init__(self, *, input_tokens: int, wall_at_sent: float) -> None:
        self.input_tokens = input_tokens
        self.wall_at_sent = wall_at_sent
        self.k = 0
        self._previous_ms: float | None = None
        self._carried_text = ""  # content of a chunk that holds no token rides on the next token

    def add(self, arrival_ms: float, count: int, text: str, content: bool, gc_collections: int = 0) -> list[TokenRecord]:
        """arrival_ms: since the request was sent."""
        if count <= 0:
            self._carried_text += text if content else ""
            return []
        text, self._carried_text = self._carried_text + text, ""
        wall = self.wall_at_sent + arrival_ms / 1e3
        records = []
        for index in range(count):
            self.k += 1
            if self._previous_ms is None:
                latency, phase = (arrival_ms if index == 0 else 0.0), PREFILL
            else:
                latency, phase = (arrival_ms - self._previous_ms) / count, DECODE
            records.append(TokenRecord(k=self.k, context_size=self.input_tokens + self.k - 1, latency_ms=latency,
                                       phase=phase, token_id=None, token_text=text if index == 0 else "",
                                       wall_time=wall, gc_collections=gc_collections if index == 0 else 0))
        self._previous_ms = arrival_ms
        return records


def derive_tokens(chunks: Sequence[Chunk], counts: Sequence[int], *, sent_ns: int, wall_at_sent: float,
                  input_tokens: int) -> list[TokenRecord]:
    """Every token of a finished stream, from its chunks and their final counts."""
    deriver = TokenDeriver(input_tokens=input_tokens, wall_at_sent=wall_at_sent)
    records: list[TokenRecord] = []
    for chunk, count in zip(chunks, counts):
        records += deriver.add((chunk.arrival_ns - sent_ns) / 1e6, count, chunk.text, chunk.content,
                               chunk.gc_collections)
    return records


COLD_LOAD_NS = 50_000_000
"""Ollama reports a few ms of load_duration on every warm request; a real model load takes far more."""


def compare_with_server(timing: dict[str, Any], ttft_ms: float | None, decode_ms: float | None,
                        decode_tokens: int) -> dict[str, Any]:
    """Ollama's own figures next to the client's: what the network and queueing add."""
    out: dict[str, Any] = {}
    load = timing.get("load_duration")
    prompt_eval = timing.get("prompt_eval_duration")
    eval_duration = timing.get("eval_duration")
    eval_count = timing.get("eval_count")
    if load is not None:
        out["cold_load"] = load > COLD_LOAD_NS
    if ttft_ms is not None and prompt_eval is not None:
        server_first = ((load or 0) + prompt_eval) / 1e6
        out["server_ttft_ms"] = server_first
        out["client_minus_server_ttft_ms"] = ttft_ms - server_first
    if eval_duration and eval_count:
        server_tpot = eval_duration / 1e6 / eval_count  # eval_duration covers generating eval_count tokens
        out["server_tpot_ms"] = server_tpot
        if decode_ms is not None and decode_tokens:
            client_tpot = decode_ms / decode_tokens
            out["client_tpot_ms"] = client_tpot
            out["client_minus_server_tpot_ms"] = client_tpot - server_tpot
    return out
