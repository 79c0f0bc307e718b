"""Column names shared by CSV export/import and the token frames `model/` fits on.

The columns themselves, their order and what each holds are defined once, with the session's and
the token's fields, in profiler/session_fields.py; these are the lists the readers use. The seed
study's five columns come first, with its exact names and meanings
(shared/data/seed-llm-latency/README.md); the rest are ours, newer ones appended.
"""

from profiler import session_fields

SEED_COLUMNS = list(session_fields.SEED_COLUMNS)
EXTRA_COLUMNS = list(session_fields.RELEASE_1_COLUMNS)
"""Ours as the first release exported them: a file with all of them is in our full format."""
REMOTE_COLUMNS = list(session_fields.REMOTE_COLUMNS)
BATCH_SWEEP_COLUMNS = list(session_fields.BATCH_SWEEP_COLUMNS)
SCHEDULER_COLUMNS = list(session_fields.SCHEDULER_COLUMNS)
ALL_COLUMNS = list(session_fields.CSV_LAYOUT)

# Session fields that together say "same model and configuration": fits are only
# comparable (and saved models only applicable) within one fingerprint.
FINGERPRINT_FIELDS = list(session_fields.FINGERPRINT_FIELDS)
