"""The checks behind benchmarks/gpu_check.py: `cpu_paths` (run everywhere), `gpu_paths` (CUDA only),
`common` (the prompt, `require`, and the project's collection paths on the run's private store)."""
