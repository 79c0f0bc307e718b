"""Backends the decode loop drives token by token.

`load_backend(options)` picks one from the flags; `ScriptedBackend` is the deterministic one
tests and screenshots pass in. Further backends (batched decoding, OpenAI-compatible or Ollama
streaming servers) implement `Backend`/`Generation` in base.py; the loop and its callers
(`collect`, the app) don't change.
"""

from profiler.backends.base import Backend, BackendInfo, Generation, SamplingSettings, StepOutput
from profiler.backends.options import BackendOptions, load_backend
from profiler.backends.scripted import ScriptedBackend

__all__ = ["Backend", "BackendInfo", "BackendOptions", "Generation", "SamplingSettings", "ScriptedBackend",
           "StepOutput", "load_backend"]
