"""The pieces of remote timing that need no server: event splitting, token counting, derived latencies,
error lines. Each is a pure function fed what servers really send."""

from __future__ import annotations

import pytest

from profiler.records import DECODE, PREFILL
from profiler.remote.accounting import count_tokens, derive_tokens
from profiler.remote.chunks import (CHUNKS, LLAMACPP, LOGPROBS, ONE_PER_CHUNK, SPLIT_BY_TEXT, USAGE, Chunk,
                                    OpenAIEvents, StreamFacts)
from profiler.remote.errors import describe_http_error
from profiler.remote.events import NdjsonParser, SseParser


def test_sse_events_split_on_blank_lines_across_reads_and_keep_their_first_byte_offset():
    parser = SseParser()
    first = b": keep-alive\n\ndata: {\"a\": 1}\n\ndata: {\"b\""
    assert parser.feed(first) == [(14, '{"a": 1}')]
    assert first[14:19] == b"data:"
    # the event that began in the first read keeps its offset there
    assert parser.feed(b": 2}\r\n\r\ndata: [DONE]\n\n") == [(30, '{"b": 2}'), (len(first) + 8, "[DONE]")]
    assert parser.comments == 1
    assert parser.feed(b"data: tail") == [] and parser.finish() == [(len(first) + 22, "tail")]


def test_ndjson_lines_split_across_reads():
    parser = NdjsonParser()
    assert parser.feed(b'{"response": "a"}\n{"resp') == [(0, '{"response": "a"}')]
    assert parser.feed(b'onse": "b"}\n') == [(18, '{"response": "b"}')]


def _chunk(n, ms, text, tokens=None, source=None, content=True):
    return Chunk(n, int(ms * 1e6), text, content, tokens, source)


def test_role_only_opener_is_not_ttft_and_a_chunk_gap_is_split_over_its_tokens():
    chunks = [_chunk(0, 5, "", content=False), _chunk(1, 50, "Hel"), _chunk(2, 80, "lo, w"), _chunk(3, 90, "!")]
    records = derive_tokens(chunks, [0, 1, 3, 1], sent_ns=0, wall_at_sent=1000.0, input_tokens=7)
    assert [(r.k, r.phase, round(r.latency_ms, 6)) for r in records] == [
        (1, PREFILL, 50.0), (2, DECODE, 10.0), (3, DECODE, 10.0), (4, DECODE, 10.0), (5, DECODE, 10.0)]
    assert [r.context_size for r in records] == [7, 8, 9, 10, 11]
    assert "".join(r.token_text for r in records) == "Hello, w!"


def test_tokens_sharing_the_first_chunk_stay_out_of_decode_statistics():
    records = derive_tokens([_chunk(0, 40, "ab"), _chunk(1, 60, "c")], [2, 1], sent_ns=0, wall_at_sent=0.0,
                            input_tokens=1)
    assert [(r.phase, r.latency_ms) for r in records] == [(PREFILL, 40.0), (PREFILL, 0.0), (DECODE, 20.0)]


def test_per_chunk_usage_beats_logprobs_and_llamacpp():
    events = OpenAIEvents()
    facts = StreamFacts()
    import json

    def feed(event):
        return events.interpret(json.dumps(event), facts, json.loads)

    role = {"choices": [{"delta": {"role": "assistant"}}], "usage": {"completion_tokens": 0, "prompt_tokens": 9}}
    assert feed(role) == ("", False, None, None)
    two = {"choices": [{"delta": {"content": "ab"}, "logprobs": {"content": [{}]}}],
           "usage": {"completion_tokens": 2, "prompt_tokens": 9}}
    assert feed(two) == ("ab", True, 2, USAGE)
    logprobs = {"choices": [{"delta": {"content": "c"}, "logprobs": {"content": [{}, {}]}}]}
    assert feed(logprobs)[2:] == (2, LOGPROBS)
    llama = {"choices": [{"delta": {"content": "d"}}], "timings": {"predicted_n": 3}}
    assert feed(llama)[2:] == (3, LLAMACPP)
    assert feed({"choices": [{"delta": {"content": "e"}}], "timings": {"predicted_n": 5}})[2:] == (2, LLAMACPP)
    assert facts.prompt_tokens == 9
    assert events.interpret("[DONE]", facts, json.loads) is None and facts.done


def test_counting_falls_back_and_says_so():
    counted = [_chunk(0, 1, "a", 2, USAGE), _chunk(1, 2, "b", 1, USAGE), _chunk(2, 3, "", content=False)]
    assert count_tokens(counted, 3) == ([2, 1, 0], USAGE, None)
    plain = [_chunk(0, 1, "a"), _chunk(1, 2, "b")]
    assert count_tokens(plain, 2) == ([1, 1], ONE_PER_CHUNK, None)
    assert count_tokens(plain, 1) == ([1, 1], CHUNKS, None)  # chunks never passed off as tokens
    assert count_tokens(plain, None) == ([1, 1], CHUNKS, None)
    # only a total: never fewer tokens than the server says, split by text length, each chunk >= 1
    wide = [_chunk(0, 1, "ab"), _chunk(1, 2, "cdefgh"), _chunk(2, 3, "", content=False)]
    assert count_tokens(wide, 8) == ([2, 6, 0], SPLIT_BY_TEXT, None)
    # ...but only within what the text can hold: 8 bytes, so 10**18 is refused and the chunks count
    counts, source, note = count_tokens(wide, 10**18)
    assert (counts, source) == ([1, 1, 0], CHUNKS) and "refused" in note and "8 bytes" in note


def test_a_422_names_the_rejected_parameter():
    transformers_serve = describe_http_error(422, "Unprocessable Entity",
                                             '{"detail":"Unexpected fields in the request: {\'ignore_eos\'}"}')
    assert str(transformers_serve).startswith("server rejected parameter 'ignore_eos' (422")
    pydantic = describe_http_error(422, "Unprocessable Entity", '{"detail": [{"loc": ["body", "min_tokens"], '
                                   '"msg": "Extra inputs are not permitted", "type": "extra_forbidden"}]}')
    assert str(pydantic) == ("server rejected parameter 'min_tokens' (422: min_tokens: Extra inputs are not "
                             "permitted)")
    openai = describe_http_error(404, "Not Found", '{"error": {"message": "The model `x` does not exist"}}')
    assert str(openai) == "server answered 404 Not Found: The model `x` does not exist"
    assert str(describe_http_error(502, "Bad Gateway", "<html>\nupstream down")) == "server answered 502 Bad Gateway: <html>"


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]"])
def test_a_malformed_event_is_an_error_naming_it(payload):
    import json

    from profiler.remote.chunks import EventError

    with pytest.raises(EventError, match="malformed event"):
        OpenAIEvents().interpret(payload, StreamFacts(), json.loads)
