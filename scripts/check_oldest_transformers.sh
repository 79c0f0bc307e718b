#!/usr/bin/env bash
# The timed loops against the oldest transformers 5 release pyproject.toml allows (5.0.0), beside the
# newest the suite installs: transformers 5.0 takes the KV cache as `past_key_values=`, newer releases
# as `cache=` (profiler/backends/cache_keyword.py). The old release and the versions of its
# dependencies that it insists on go to a target dir put first on PYTHONPATH; nothing installed changes.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-${TMPDIR:-/tmp}/tokenlat-oldest-transformers}"
if [ ! -d "$target/transformers" ]; then
    python3 -m pip install -q --no-deps --target "$target" "transformers==5.0.0" "tokenizers>=0.22.0,<=0.23.0" \
        "kernels>=0.10.2,<0.11"
    python3 -m pip install -q --target "$target" "huggingface-hub>=1.3.0,<2.0"
fi
PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}" python3 -W error::FutureWarning -c \
    'import transformers; print("transformers", transformers.__version__)'
PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}" python3 -m pytest -q -p no:cacheprovider tests/test_cache_keyword.py
