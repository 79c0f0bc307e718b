"""Request URL and body for each API and endpoint, from the run's settings."""

from __future__ import annotations

from typing import Any

from profiler.remote.options import RemoteOptions


def request_url(options: RemoteOptions) -> str:
    base = options.server.rstrip("/")
    if options.api == "ollama":
        return f"{base}/api/{options.endpoint}"
    path = "chat/completions" if options.endpoint == "chat" else "completions"
    return f"{base}/{path}" if base.endswith("/v1") else f"{base}/v1/{path}"


def request_body(options: RemoteOptions, prompt: str, *, max_new_tokens: int, ignore_eos: bool, temperature: float,
                 top_p: float, seed: int) -> dict[str, Any]:
    if options.api == "ollama":
        body: dict[str, Any] = {"model": options.server_model, "stream": True,
                                "options": {"num_predict": max_new_tokens, "temperature": temperature, "top_p": top_p,
                                            "seed": seed}}
        if options.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        return {**body, **options.extra_body}
    body = {"stream": True, "max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
    if options.server_model:
        body["model"] = options.server_model
    if options.endpoint == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if options.stream_options:
        body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
    if options.logprobs:
        body.update({"logprobs": True, "top_logprobs": 0} if options.endpoint == "chat" else {"logprobs": 0})
    if ignore_eos:
        body["ignore_eos"] = True  # vLLM/SGLang accept it; strict servers answer 422, which names it
    return {**body, **options.extra_body}


def request_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "text/event-stream, application/x-ndjson"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
