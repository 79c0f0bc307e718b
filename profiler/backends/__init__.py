"""Backends the decode loop drives token by token.

`load_backend(options)` loads the backend the options describe (registry.py: each backend declares
its flags, options and loader); `ScriptedBackend` is the deterministic one tests and screenshots
pass in. Local backends implement `Backend`/`Generation` in base.py; remote servers are
`StreamingBackend`s (profiler/remote) that yield text pieces with a token count.
"""

from profiler.backends.base import Backend, BackendInfo, Generation, SamplingSettings, StepOutput
from profiler.backends.options import BackendOptions
from profiler.backends.registry import load_backend
from profiler.backends.scripted import ScriptedBackend

__all__ = ["Backend", "BackendInfo", "BackendOptions", "Generation", "SamplingSettings", "ScriptedBackend",
           "StepOutput", "load_backend"]
