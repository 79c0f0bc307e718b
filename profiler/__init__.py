"""The measurement engine: backends, the timed decode loop, the session store and CSV.

Nothing here imports textual, and nothing imports torch or transformers at module level:
those load only when a model is loaded, so the CLI answers `--help` instantly.
"""
