"""The crash-safe SQLite session store."""

from profiler.store.location import resolve_data_dir, store_path
from profiler.store.session_store import SessionStore
from profiler.store.writer import SessionWriter

__all__ = ["SessionStore", "SessionWriter", "resolve_data_dir", "store_path"]
