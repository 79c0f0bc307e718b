"""The embedded default model: a small Mistral-architecture network with random weights.

Built in memory from this config and a fixed seed: no download, no network, no cache files.
Its text is gibberish; its latency is real. Sized so a 2-core CPU decodes well over 40 tokens/s
at short context while latency still grows visibly with context (measured here: ~4 ms/token at
context 100, ~8.5 ms/token at context 1000 — the KV cache and attention grow, the weights don't).
"""

from __future__ import annotations

from profiler.backends.byte_tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

EMBEDDED_MODEL_ID = "tokenlat/embedded-mistral-512x6"
EMBEDDED_LABEL = "random weights"

EMBEDDED_CONFIG = {
    "model_type": "mistral",
    "architectures": ["MistralForCausalLM"],
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "max_position_embeddings": 4096,
    "sliding_window": None,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "bos_token_id": BOS_ID,
    "eos_token_id": EOS_ID,
    "pad_token_id": PAD_ID,
}
