"""Column names shared by CSV export/import and the token frames `model/` fits on.

The seed study's five columns come first, with its exact names and meanings
(shared/data/seed-llm-latency/README.md); the rest are ours.
"""

SEED_COLUMNS = [
    "Prompt_ID",  # the session id
    "Input_Token_Length",  # tokens in the (chat-templated) prompt
    "Context_Size",  # tokens visible when predicting this token = input + k - 1
    "Token_Index_k",  # 1-based; k = 1 is the first token, prompt processing included
    "Per_Token_Latency_ms",
]

EXTRA_COLUMNS = [
    "phase",  # prefill (k = 1) or decode
    "warmup",  # true/false: a warm-up generation, left out of statistics and fits
    "model",
    "model_label",  # e.g. "random weights"
    "quant",
    "dtype",
    "device",
    "backend",
    "batch_size",
    "attn",
    "gpu_name",
    "session_status",
    "session_started",  # ISO 8601
    "repeat_index",
    "token_id",
    "token_text",
    "timestamp",  # ISO 8601 wall-clock time the token was produced
    "forward_ms",
    "sample_ms",
    "gc_collections",
    "gc_ms",
    "prompt",
]

# Appended for remote servers (schema v2); kept after the rest so existing readers' positions hold.
REMOTE_COLUMNS = [
    "timing",  # device (measured around the local decode step) or arrival (a remote server's stream, seen by the client)
]

ALL_COLUMNS = SEED_COLUMNS + EXTRA_COLUMNS + REMOTE_COLUMNS

# Session fields that together say "same model and configuration": fits are only
# comparable (and saved models only applicable) within one fingerprint.
FINGERPRINT_FIELDS = ["model", "quant", "dtype", "device", "backend", "batch_size", "attn", "gpu_name"]
