#!/usr/bin/env bash
# How examples/latency-sample.csv was made: the embedded model (random weights, no download) on a CPU.
# One prompt in bfloat16, then two more prompts and the first again in float32, 3 repeats each: 12
# sessions, newest first float32 x3 of the first prompt, the other two prompts x3, bfloat16 x3 last
# (the README's `compare` examples use that order; `fit` holds out whole prompts, so it needs several).
# Run from the repository root; it writes only the sample.
set -euo pipefail
export TOKENLAT_DATA_DIR=$(mktemp -d)
trap 'rm -rf "$TOKENLAT_DATA_DIR"' EXIT
common=(--max-new-tokens 32 --warmup 0 --repeat 3 --ignore-eos)
tokenlat-tui collect "Explain the KV cache in one paragraph." --dtype bfloat16 "${common[@]}"
tokenlat-tui collect "Why is decoding memory-bound?" "List three ways to cut time to first token." "${common[@]}"
tokenlat-tui collect "Explain the KV cache in one paragraph." "${common[@]}"
tokenlat-tui export --all -o examples/latency-sample.csv --force
