"""The store's schema and its migrations. Bump SCHEMA_VERSION and append a migration to change it."""

from __future__ import annotations

import sqlite3

APP_ID = "tokenlat-tui"
APPLICATION_ID = 0x546B4C74  # "TkLt": SQLite's header field that says which program a file belongs to
SCHEMA_VERSION = 5
SQLITE_MAX_INTEGER = 2**63 - 1
"""The largest INTEGER SQLite stores: values beyond it are refused before they reach a query."""

_V1 = """
CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    prompt TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    warmup INTEGER NOT NULL DEFAULT 0,
    repeat_index INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    model_label TEXT NOT NULL DEFAULT '',
    quant TEXT NOT NULL DEFAULT 'none',
    dtype TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT '',
    batch_size INTEGER NOT NULL DEFAULT 1,
    attn TEXT NOT NULL DEFAULT '',
    gpu_name TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '{}',
    environment TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL DEFAULT 'collect',
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    pid_started REAL,
    error TEXT,
    -- summary, written when the session ends so listing stays O(sessions), not O(tokens)
    tokens INTEGER NOT NULL DEFAULT 0,
    ttft_ms REAL,
    decode_p50_ms REAL,
    decode_p95_ms REAL,
    decode_p99_ms REAL,
    decode_mean_ms REAL,
    tokens_per_s REAL
);
CREATE INDEX sessions_started ON sessions(started);
CREATE INDEX sessions_status ON sessions(status);
CREATE TABLE tokens (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    k INTEGER NOT NULL,
    context_size INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    phase TEXT NOT NULL,
    token_id INTEGER,
    token_text TEXT NOT NULL DEFAULT '',
    wall_time REAL NOT NULL,
    forward_ms REAL,
    sample_ms REAL,
    gc_collections INTEGER NOT NULL DEFAULT 0,
    gc_ms REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, k)
) WITHOUT ROWID;
CREATE TABLE metrics (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    wall_time REAL NOT NULL,
    gpu_util REAL, gpu_mem_mb REAL, gpu_temp_c REAL, sm_clock_mhz REAL, power_w REAL,
    throttle_reasons TEXT,
    cpu_util REAL, rss_mb REAL
);
CREATE INDEX metrics_session ON metrics(session_id, wall_time);
"""

# Remote servers (profiler/remote): how a session was timed, the run a concurrent stream belongs
# to, every streamed chunk as it arrived (per-token latencies of such sessions are derived from
# these), and what the client and the server said about each request.
_V2 = """
ALTER TABLE sessions ADD COLUMN timing TEXT NOT NULL DEFAULT 'device';
ALTER TABLE sessions ADD COLUMN run_id TEXT;
CREATE INDEX sessions_run ON sessions(run_id);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    ended TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    summary TEXT
);
CREATE TABLE chunks (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    arrival_ms REAL NOT NULL,
    gap_ms REAL,
    tokens INTEGER,
    content INTEGER NOT NULL DEFAULT 1,
    text TEXT NOT NULL DEFAULT '',
    gc_collections INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, n)
) WITHOUT ROWID;
CREATE TABLE remote_sessions (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    run_id TEXT,
    api TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    url TEXT NOT NULL,
    token_source TEXT,
    queue_ms REAL,
    http_status INTEGER,
    server_tokens INTEGER,
    counted_tokens INTEGER,
    chunks INTEGER,
    server_timing TEXT,
    cold_load INTEGER
)
"""

# Batched runs, sweeps and configurations (issue 12): which sequence of a batch a session is and
# when it produced EOS, the sweep cell it belongs to, the fingerprint of the configuration that
# determines its speed, compilation time and peak memory kept apart from any token; what kind of
# run groups sessions; sweeps and their cells (written by profiler/store/sweeps.py).
_V3 = """
ALTER TABLE sessions ADD COLUMN batch_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN eos_k INTEGER;
ALTER TABLE sessions ADD COLUMN sweep_id TEXT;
ALTER TABLE sessions ADD COLUMN cell TEXT;
ALTER TABLE sessions ADD COLUMN config TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN compile_ms REAL;
ALTER TABLE sessions ADD COLUMN peak_memory_mb REAL;
CREATE INDEX sessions_sweep ON sessions(sweep_id, cell);
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'remote';
CREATE TABLE sweeps (
    id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    seed INTEGER NOT NULL,
    pid INTEGER,
    host TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sweep_cells (
    sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    cell TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    position INTEGER NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    started TEXT,
    ended TEXT,
    PRIMARY KEY (sweep_id, cell, repeat)
)
"""

# Per-token scheduler accounting (issue 17, profiler/sched_watch.py): how long the decoding thread
# waited for a CPU inside each token, and how often it was preempted. NULL on older rows: not measured.
_V4 = """
ALTER TABLE tokens ADD COLUMN cpu_wait_ms REAL;
ALTER TABLE tokens ADD COLUMN preemptions INTEGER
"""

# Profiled passes (issue 20, `collect --breakdown`, profiler/store/breakdowns.py): a torch.profiler pass
# run after the timed sessions, kept apart from them, with the timed sessions it was run beside.
_V5 = """
CREATE TABLE profiled_passes (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    label TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    result TEXT NOT NULL
);
CREATE TABLE profiled_pass_sessions (
    pass_id TEXT NOT NULL REFERENCES profiled_passes(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    PRIMARY KEY (pass_id, session_id)
) WITHOUT ROWID
"""

# MIGRATIONS[n] takes a store at version n to n + 1.
MIGRATIONS: dict[int, str] = {0: _V1, 1: _V2, 2: _V3, 3: _V4, 4: _V5}


def migrate(conn: sqlite3.Connection, current: int) -> None:
    """Bring the schema to SCHEMA_VERSION inside the caller's write transaction."""
    for version in range(current, SCHEMA_VERSION):
        # statement by statement: executescript() would COMMIT the caller's transaction
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")  # part of the header page: in the transaction
    conn.execute("INSERT OR REPLACE INTO store_info VALUES ('app', ?)", (APP_ID,))
    conn.execute("INSERT OR REPLACE INTO store_info VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
