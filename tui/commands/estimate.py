"""`tokenlat-tui estimate`: memory, latency lower bounds and cost of a model on a GPU, before running it.

`--model`, `--dtype` and `--quant` also exist on the root parser (for the model backend); here they
default to SUPPRESS as well, so `tokenlat-tui --model X estimate` and `tokenlat-tui estimate --model X`
both reach `run` and neither order's value is overwritten by the other parser's default.
"""

from __future__ import annotations

import argparse

# argparse attribute -> estimate_from_names keyword
FLAG_TO_PARAMETER = {
    "params": "params", "gpu": "gpu", "gpus": "gpus", "bandwidth": "bandwidth_gb_s", "tflops": "tflops",
    "memory": "memory_gib", "dtype": "dtype", "quant": "quant", "batch": "batch", "input_tokens": "input_tokens",
    "output_tokens": "output_tokens", "price_per_gpu_hour": "price_per_gpu_hour", "api_price_in": "api_price_in",
    "api_price_out": "api_price_out",
}
GPU_NAMES = "A100-40GB, A100-80GB, A100-80GB-PCIe, H100, H100-PCIe, H200, L4, T4, RTX 4090, RTX 4060"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser(
        "estimate", help="predict memory, latency lower bounds and cost before running a model",
        description="Roofline estimate of a generation: weights and KV-cache memory, whether it fits, "
                    "prefill/decode lower bounds, and cost. Every time is a lower bound: real code is slower.")
    suppress = argparse.SUPPRESS
    model = sub.add_argument_group("model")
    model.add_argument("--model", metavar="PRESET|CONFIG.json|MODEL_DIR", default=suppress,
                       help="a shipped architecture (e.g. mistral-7b, llama-3-8b, qwen2.5-7b), a config.json, "
                            "a model folder, or a hub id naming a preset")
    model.add_argument("--params", metavar="N", default=suppress,
                       help="parameter count (7B, 500M): alone, a generic dense model; "
                            "with --model, replaces its count")
    model.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"], default=suppress,
                       help="auto (default): bf16 on GPUs that have it, else fp16; fp32 on a CPU")
    model.add_argument("--quant", choices=["none", "8bit", "4bit"], default=suppress,
                       help="bitsandbytes quantisation (default none)")
    run_group = sub.add_argument_group("generation")
    run_group.add_argument("--batch", type=int, metavar="N", default=suppress, help="sequences at once (default 1)")
    run_group.add_argument("--input-tokens", type=int, metavar="N", default=suppress,
                           help="prompt tokens (default 512)")
    run_group.add_argument("--output-tokens", type=int, metavar="N", default=suppress,
                           help="generated tokens (default 256)")
    device = sub.add_argument_group("hardware (--gpu NAME, or --bandwidth/--tflops/--memory)")
    # the table's names written out, not imported: building the parser imports nothing (a test keeps them in step)
    device.add_argument("--gpu", metavar="NAME", default=suppress,
                        help=f"{GPU_NAMES} (NVML names work too), or cpu (with the three figures below)")
    device.add_argument("--gpus", type=int, metavar="N", default=suppress,
                        help="GPUs working on the model (bound assumes tensor parallelism; default 1)")
    device.add_argument("--bandwidth", type=float, metavar="GB/s", default=suppress,
                        help="memory bandwidth per device (overrides the table)")
    device.add_argument("--tflops", type=float, metavar="T", default=suppress,
                        help="peak dense TFLOPS per device (overrides the table)")
    device.add_argument("--memory", type=float, metavar="GB", default=suppress,
                        help="memory per device as marketed (a '24 GB' card: 24)")
    cost = sub.add_argument_group("cost (prices are yours: none are built in)")
    cost.add_argument("--price-per-gpu-hour", type=float, metavar="USD", default=suppress,
                      help="what one GPU costs per hour, rented or amortised")
    cost.add_argument("--api-price-in", type=float, metavar="USD/1M", default=suppress,
                      help="API price per 1M input tokens")
    cost.add_argument("--api-price-out", type=float, metavar="USD/1M", default=suppress,
                      help="API price per 1M output tokens")
    sub.add_argument("--json", action="store_true", default=suppress, help="print one JSON object")
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # deferred: keeps `tokenlat-tui --help` fast (the estimator itself is pure Python)
    from model.estimate import estimate_from_names
    from model.estimate_report import format_estimate
    from tui.commands.common import json_safe, print_json

    # flags left out keep the defaults of estimate_from_names / EstimateInputs: one source of truth
    given = {parameter: getattr(args, attribute)
             for attribute, parameter in FLAG_TO_PARAMETER.items() if hasattr(args, attribute)}
    result = estimate_from_names(getattr(args, "model", None), **given)
    if getattr(args, "json", False):
        print_json(json_safe(result.to_dict()))
    else:
        from profiler.printable import printable

        print(printable(format_estimate(result)))  # a model folder's config names the model: outside text
    return 0
