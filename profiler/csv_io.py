"""CSV export and import of per-token latencies: the public entry points in one place.

The format: one row per token, `profiler.columns.ALL_COLUMNS` in order. The seed study's five
columns come first with its exact names, so its analysis code reads our exports unchanged, and
its bare five-column file imports as sessions. Writing lives in `csv_export`, reading in
`csv_import`; both use only the stdlib `csv` module (exact float round trips, line numbers).
"""

from profiler.csv_export import STDOUT, ExportResult, export_sessions, format_value, write_csv
from profiler.csv_import import ImportResult, import_csv, read_csv_sessions

__all__ = [
    "STDOUT", "ExportResult", "ImportResult", "export_sessions", "format_value", "import_csv",
    "read_csv_sessions", "write_csv",
]
