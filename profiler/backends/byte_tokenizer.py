"""A byte-level tokenizer: ids 0-255 are UTF-8 bytes, then a few special tokens.

Used by the embedded model and by `--random-weights` architectures (which ship no tokenizer):
it needs no files and no network, and every text round-trips.
"""

from __future__ import annotations

import codecs

PAD_ID, BOS_ID, EOS_ID = 256, 257, 258
VOCAB_SIZE = 260  # 256 bytes + pad, bos, eos, one spare


class ByteTokenizer:
    bos_id = BOS_ID
    eos_id = EOS_ID

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        ids = list(text.encode("utf-8"))
        return [BOS_ID, *ids] if add_bos else ids


class IncrementalByteDecoder:
    """Turns one generated id at a time into text; a multi-byte character appears with its last byte."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def token_text(self, token_id: int) -> str:
        if 0 <= token_id < 256:
            return self._decoder.decode(bytes((token_id,)))
        return ""  # special tokens (and ids a bigger random-weights vocab may emit) add no text
