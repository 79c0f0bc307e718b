"""Prompt encoding and incremental detokenising for Hugging Face tokenizers."""

from __future__ import annotations

from typing import Any


def encode_prompt(tokenizer: Any, prompt: str, raw: bool) -> list[int]:
    """Chat-templated ids when the tokenizer has a template (unless raw), else plain ids."""
    if not raw and getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                tokenize=True)
        if hasattr(encoded, "keys"):  # some versions return a BatchEncoding
            encoded = encoded["input_ids"]
        return list(encoded)
    return list(tokenizer(prompt)["input_ids"])


class IncrementalDecoder:
    """Per-token text without re-decoding the whole output each step (text-generation-inference's
    prefix/read offsets): a token that ends mid-character yields '' until the character completes."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def token_text(self, token_id: int) -> str:
        self._ids.append(token_id)
        decode = self._tokenizer.decode
        prefix_text = decode(self._ids[self._prefix_offset:self._read_offset], skip_special_tokens=False)
        new_text = decode(self._ids[self._prefix_offset:], skip_special_tokens=False)
        if len(new_text) > len(prefix_text) and not new_text.endswith("\ufffd"):
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
            return new_text[len(prefix_text):]
        return ""
