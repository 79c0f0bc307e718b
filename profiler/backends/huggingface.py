"""The Hugging Face backend: the embedded default, random-weight architectures, or real models.

torch and transformers are imported inside `load_huggingface_backend`, never at module import.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from profiler.backends.base import Backend, BackendInfo, Generation, ProgressCallback, SamplingSettings
from profiler.backends.byte_tokenizer import ByteTokenizer, IncrementalByteDecoder
from profiler.backends.cache_keyword import cache_keyword
from profiler.backends.embedded import EMBEDDED_CONFIG, EMBEDDED_MODEL_ID
from profiler.backends.hf_tokenizer import IncrementalDecoder, encode_prompt
from profiler.backends.options import FLASH_ATTENTION, BackendOptions, looks_like_path
from profiler.environment import base_environment, nvidia_driver_version
from profiler.errors import BackendError, InputError

RANDOM_LABEL = "random weights"
# config fields worth keeping with a session: enough to recompute weight and KV-cache bytes later
_CONFIG_KEYS = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "tie_word_embeddings",
                "sliding_window", "attention_bias", "mlp_bias", "use_sliding_window", "max_window_layers",
                "layer_types")


class HuggingFaceBackend(Backend):
    def __init__(self, torch: Any, model: Any, tokenizer: Any, info: BackendInfo, *, byte_level: bool,
                 raw: bool, static_cache: bool = False, compile: bool = False) -> None:
        self.torch = torch
        self.model = model
        self.static_cache = static_cache
        """Batched generations allocate a StaticCache for the run (profiler/backends/hf_batch_generation.py)."""
        self.compiled = compile
        # the one-token decode step, compiled lazily on its first call (the prefill stays eager: its
        # length varies by prompt and would recompile). CUDA graphs ("reduce-overhead") need a GPU.
        self.decode_forward = model
        self.compile_mode: str | None = None
        if compile:
            cuda = model.get_input_embeddings().weight.device.type == "cuda"
            self.compile_mode = "reduce-overhead" if cuda else "default"
            self.decode_forward = torch.compile(model.forward, fullgraph=True, mode=self.compile_mode)
        self.cache_keyword = cache_keyword(model)
        """The forward's KV-cache argument, which is also the output's cache field (cache_keyword.py)."""
        self.tokenizer = tokenizer
        self.info = info
        self._byte_level = byte_level
        self._raw = raw
        self.input_device = model.get_input_embeddings().weight.device
        self.is_cuda = self.input_device.type == "cuda"
        from transformers import DynamicCache

        self._cache_class = DynamicCache
        eos = model.generation_config.eos_token_id if model.generation_config else None
        if eos is None:
            eos = model.config.eos_token_id
        self._eos = frozenset(eos if isinstance(eos, (list, tuple)) else ([] if eos is None else [eos]))

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return self._eos

    def encode(self, prompt: str) -> list[int]:
        if self._byte_level:
            return self.tokenizer.encode(prompt)
        return encode_prompt(self.tokenizer, prompt, self._raw)

    def new_cache(self) -> Any:
        return self._cache_class(config=self.model.config)

    def new_static_cache(self, max_cache_len: int) -> Any:
        from transformers import StaticCache

        return StaticCache(config=self.model.config, max_cache_len=max_cache_len)

    def new_decoder(self) -> Any:
        return IncrementalByteDecoder() if self._byte_level else IncrementalDecoder(self.tokenizer)

    def start(self, input_ids: list[int], sampling: SamplingSettings) -> Generation:
        from profiler.backends.hf_generation import HuggingFaceGeneration

        return HuggingFaceGeneration(self, input_ids, sampling)

    def synchronize(self) -> None:
        if self.is_cuda:
            self.torch.cuda.synchronize()

    def close(self) -> None:
        self.model = None
        if self.is_cuda:
            self.torch.cuda.empty_cache()


def load_huggingface_backend(options: BackendOptions, progress: ProgressCallback | None = None) -> HuggingFaceBackend:
    report = progress or (lambda _what, _fraction: None)
    report("importing torch", 0.05)
    import torch

    report("importing transformers", 0.3)
    import transformers

    transformers.logging.set_verbosity_error()  # progress bars and advice would garble the CLI and the app
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # its retry warnings would add lines to the one-line error
    # bitsandbytes (>= 0.50) looks for a hub kernel on the CPU and logs its offline fallback, and the
    # `kernels` package its trust check: advice for a download we never make, lines in a one-line error
    for library in ("bitsandbytes", "kernels"):
        logging.getLogger(library).setLevel(logging.ERROR)
    device = _resolve_device(torch, options.device)
    if options.attn == FLASH_ATTENTION and device == "cpu":  # --device auto found no GPU
        raise BackendError(f"--attn {FLASH_ATTENTION} needs a CUDA GPU, and torch sees none here; use --attn sdpa")
    dtype_name = _resolve_dtype(torch, options.dtype, device)
    dtype = getattr(torch, dtype_name)
    _check_before_building(torch, options, device, dtype_name)
    report("building model", 0.5)
    try:
        if options.model:
            model, tokenizer, model_id, revision = _load_pretrained(torch, options, device, dtype)
            byte_level, label = False, ""
        else:
            config, model_id = _random_config(options)
            model = _build_random_checked(torch, config, options, device, dtype, model_id)
            tokenizer, byte_level, label, revision = ByteTokenizer(), True, RANDOM_LABEL, f"random(seed={options.seed})"
    except torch.cuda.OutOfMemoryError as exc:
        raise BackendError(f"out of memory loading the model on {device}: {str(exc).splitlines()[0]}") from None
    except (MemoryError, RuntimeError) as exc:
        # host RAM ran out (only past --skip-memory-check or a low estimate): torch says "can't allocate memory"
        if isinstance(exc, RuntimeError) and "can't allocate memory" not in str(exc):
            raise
        raise BackendError(f"out of memory building the model on {device}: {_first_line(exc)}") from None
    _check_after_loading(model, options, device, model_id)
    model.eval()
    report("model ready", 1.0)
    info = _describe(torch, model, options, device, dtype_name, model_id, revision, label)
    return HuggingFaceBackend(torch, model, tokenizer, info, byte_level=byte_level, raw=options.raw,
                              static_cache=options.cache == "static", compile=options.compile)


def _resolve_device(torch: Any, requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendError(f"--device {requested}: no CUDA GPU is available here (torch sees none)")
        if ":" in requested and int(requested.split(":")[1]) >= torch.cuda.device_count():
            raise BackendError(f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s) present")
    return requested


def _resolve_dtype(torch: Any, requested: str, device: str) -> str:
    if requested != "auto":
        return requested
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"  # CPUs run float32 fastest; half types are emulated


def _device_map(torch: Any, device: str) -> Any:
    if device == "cuda" and torch.cuda.device_count() > 1:
        return "auto"  # accelerate spreads the layers over every visible GPU
    if device == "cuda":
        return {"": 0}
    if device.startswith("cuda:"):
        return {"": int(device.split(":")[1])}
    return {"": "cpu"}


def _quantization_config(options: BackendOptions, dtype: Any) -> Any:
    if options.quant == "none":
        return None
    _import_bitsandbytes(options)
    from transformers import BitsAndBytesConfig

    if options.quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4")


def _config_dict(options: BackendOptions) -> tuple[dict[str, Any] | None, str]:
    """The config.json dict of the model the options describe, and its name; None for a hub id (not read yet)."""
    from profiler.architectures import load_architecture

    if options.model:
        local = Path(options.model).expanduser()
        has_config = local.is_dir() and (local / "config.json").is_file()
        # resolved: a folder named like a shipped preset is still the folder
        return (load_architecture(str(local.resolve())) if has_config else None), options.model
    if options.random_weights:
        name = Path(options.random_weights).stem if options.random_weights.endswith(".json") else options.random_weights
        return dict(load_architecture(options.random_weights)), name
    return dict(EMBEDDED_CONFIG), EMBEDDED_MODEL_ID


def _check_before_building(torch: Any, options: BackendOptions, device: str, dtype_name: str) -> None:
    """Refuse, with one line, what would fail only after minutes of allocating or mid-run: weights larger
    than the memory available (the OOM killer's exit 137) and 4-bit layer sizes this CPU's kernel can't pack."""
    from profiler.backends.bnb_layout import check_cpu_4bit_layout, config_layer_sizes
    from profiler.backends.memory_check import (available_gpu_bytes, available_host_bytes, check_weights_fit,
                                                weights_plan)

    config, name = _config_dict(options)
    plan = weights_plan(config, name, device, random_weights=not options.model) if config is not None else None
    if plan is None:
        return  # a hub id, or a config the estimator can't read: loading itself will tell
    if not options.skip_memory_check:
        gpu = available_gpu_bytes(torch, device) if device.startswith("cuda") else None
        check_weights_fit(plan, dtype_name, options.quant, host_available=available_host_bytes(), gpu_available=gpu)
    if options.quant == "4bit" and device == "cpu":
        check_cpu_4bit_layout(config_layer_sizes(plan.shape), name,
                              packs_for_avx512_bf16=_bitsandbytes_packs_for_cpu(options))


def _check_after_loading(model: Any, options: BackendOptions, device: str, name: str) -> None:
    """The loaded model's own 4-bit layers (exact for any architecture), before any session starts."""
    if options.quant == "4bit" and device == "cpu":
        from profiler.backends.bnb_layout import check_cpu_4bit_layout, loaded_4bit_layers

        check_cpu_4bit_layout(loaded_4bit_layers(model), name, packs_for_avx512_bf16=_bitsandbytes_packs_for_cpu(options))


def _bitsandbytes_packs_for_cpu(options: BackendOptions) -> bool:
    return bool(_import_bitsandbytes(options).functional.has_avx512bf16())


def _import_bitsandbytes(options: BackendOptions) -> Any:
    try:
        import bitsandbytes  # importing is the first test that it can run here
        import bitsandbytes.functional  # noqa: F401 - has_avx512bf16
    except Exception as exc:  # noqa: BLE001 - any import failure means the same thing to the user
        raise BackendError(f"--quant {options.quant}: bitsandbytes can't run here ({_first_line(exc)})") from None
    return bitsandbytes


def _random_config(options: BackendOptions) -> tuple[Any, str]:
    from transformers import AutoConfig

    config_dict, name = _config_dict(options)
    assert config_dict is not None  # random weights always have a config
    model_type = config_dict.pop("model_type", None)
    if not model_type:
        raise InputError(f"architecture {options.random_weights!r} has no model_type")
    for key in ("architectures", "torch_dtype", "dtype", "transformers_version", "_name_or_path"):
        config_dict.pop(key, None)
    try:
        config = AutoConfig.for_model(model_type, **config_dict)
    except Exception as exc:  # noqa: BLE001 - ValueError, TypeError, huggingface_hub's strict-field errors...
        # a user's config.json: whatever transformers rejects it with is one line about the file
        # (field validation errors put the cause on their second line: keep every line, joined)
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:300] or type(exc).__name__
        raise InputError(f"architecture {name!r} is not a config transformers can build: {reason}") from None
    heads, kv_heads = getattr(config, "num_attention_heads", None), getattr(config, "num_key_value_heads", None)
    if isinstance(heads, int) and isinstance(kv_heads, int) and (kv_heads < 1 or heads % kv_heads):
        # transformers builds such a model and fails only in the first forward pass, mid-session
        raise InputError(f"architecture {name!r}: num_attention_heads ({heads}) is not a multiple of "
                         f"num_key_value_heads ({kv_heads})")
    if options.attn != "auto":
        config._attn_implementation = options.attn
    return config, name


def _build_random_checked(torch: Any, config: Any, options: BackendOptions, device: str, dtype: Any,
                          name: str) -> Any:
    try:
        return _build_random(torch, config, options, device, dtype)
    except (AssertionError, ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
        # a config transformers accepted but can't build (e.g. a negative vocab_size: an assert in nn.Embedding)
        raise InputError(f"architecture {name!r} can't be built: {_first_line(exc)}") from None


def _build_random(torch: Any, config: Any, options: BackendOptions, device: str, dtype: Any) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(options.seed)
    quantization = _quantization_config(options, dtype)
    if quantization is None:
        target = "cuda:0" if device == "cuda" else device
        # built directly on the device: a full-size 7B never has to fit in host memory
        with torch.device(target):
            return AutoModelForCausalLM.from_config(config, dtype=dtype)
    # bitsandbytes quantises while loading saved weights: save the random model to scratch
    # space inside the data dir, load it quantised, delete the scratch copy
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    scratch_root = _scratch_root(options)
    with tempfile.TemporaryDirectory(prefix="quantise-", dir=scratch_root) as scratch:
        model.save_pretrained(scratch)
        del model
        return _from_pretrained(AutoModelForCausalLM, scratch, options, device, dtype, quantization)


def _scratch_root(options: BackendOptions) -> str:
    from profiler.store import resolve_data_dir

    root = resolve_data_dir(options.data_dir) / "scratch"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(f"can't create scratch dir {root}: {exc.strerror or exc}") from None
    return str(root)


def _from_pretrained(auto_class: Any, source: str, options: BackendOptions, device: str, dtype: Any,
                     quantization: Any, **kwargs: Any) -> Any:
    import torch

    extra = {"attn_implementation": options.attn} if options.attn != "auto" else {}
    if quantization is not None:
        extra["quantization_config"] = quantization
    try:
        return auto_class.from_pretrained(source, dtype=dtype, device_map=_device_map(torch, device),
                                          trust_remote_code=options.trust_remote_code, **extra, **kwargs)
    except (ImportError, RuntimeError, ValueError) as exc:
        text = _first_line(exc)
        if quantization is not None and ("bitsandbytes" in text.lower() or "quantiz" in text.lower()):
            raise BackendError(f"--quant {options.quant}: bitsandbytes can't run here ({text})") from None
        if "flash" in text.lower() and "attn" in text.lower():
            raise BackendError(f"--attn {options.attn} is not available here ({text})") from None
        raise BackendError(f"can't load model {source!r}: {text}") from None


def _load_pretrained(torch: Any, options: BackendOptions, device: str, dtype: Any) -> tuple[Any, Any, str, str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = options.model
    local = Path(source).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise BackendError(f"model folder {local} has no config.json")
        source = str(local)
    elif looks_like_path(source):
        raise BackendError(f"model folder not found: {source}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=options.trust_remote_code)
    except (OSError, ValueError) as exc:
        if local.exists():
            raise BackendError(f"can't load the tokenizer in {source}: {_first_line(exc)}") from None
        raise BackendError(f"can't load {source!r}: not a local folder, and the Hugging Face hub can't be reached "
                           f"or has no such model ({_first_line(exc)})") from None
    quantization = _quantization_config(options, dtype)
    try:
        model = _from_pretrained(AutoModelForCausalLM, source, options, device, dtype, quantization)
    except OSError as exc:
        raise BackendError(f"can't load model {source!r}: {_first_line(exc)}") from None
    revision = getattr(model.config, "_commit_hash", None)
    if not revision and local.exists():
        revision = _folder_fingerprint(local)
    return model, tokenizer, options.model, revision or ""


def _folder_fingerprint(folder: Path) -> str:
    """A short hash of a local model folder's config and file sizes: a 'revision' for unversioned folders."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(f"{path.name}:{path.stat().st_size}".encode())
            if path.name == "config.json":
                digest.update(path.read_bytes())
    return "local-" + digest.hexdigest()[:12]


def _describe(torch: Any, model: Any, options: BackendOptions, device: str, dtype_name: str, model_id: str,
              revision: str, label: str) -> BackendInfo:
    config = model.config.to_dict()
    device_map = getattr(model, "hf_device_map", None)
    gpu_name = ""
    if device.startswith("cuda"):
        index = torch.cuda.current_device() if device == "cuda" else int(device.split(":")[1])
        gpu_name = torch.cuda.get_device_name(index)
    environment = base_environment()
    environment.update({
        "model": model_id, "revision": revision, "label": label, "dtype": dtype_name, "quant": options.quant,
        "device": device, "device_map": device_map, "gpu_name": gpu_name,
        "gpu_count": torch.cuda.device_count() if device.startswith("cuda") else 0,
        "nvidia_driver": nvidia_driver_version() if device.startswith("cuda") else None,
        "cuda": torch.version.cuda, "cache": "StaticCache" if options.cache == "static" else "DynamicCache",
        "compile": options.compile, "attn": model.config._attn_implementation,
        "torch_threads": torch.get_num_threads(), "trust_remote_code": options.trust_remote_code,
        "chat_template": bool(not options.raw and options.model), "parameters": sum(p.numel() for p in model.parameters()),
        "model_config": {key: config.get(key) for key in _CONFIG_KEYS if key in config},
    })
    max_context = getattr(model.config, "max_position_embeddings", None)
    return BackendInfo(model=model_id, label=label, backend="huggingface", dtype=dtype_name, quant=options.quant,
                       device=device, attn=str(model.config._attn_implementation or ""), gpu_name=gpu_name,
                       max_context=max_context, environment=environment)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


__all__ = ["HuggingFaceBackend", "load_huggingface_backend"]
