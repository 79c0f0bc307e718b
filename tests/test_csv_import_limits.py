"""What import accepts stays usable: it exports, imports again and fits, or it is refused with its line.

Issue 8 §3: values at the edges (year 9999, offsets past year 1, the epoch, latencies of 1e308 or
1e-310, ids with spaces or control characters) imported and then broke `export` and `fit` with
tracebacks. The bounds live in profiler/csv_limits.py and the README's "CSV format" section.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from profiler.csv_io import export_sessions, import_csv
from profiler.csv_limits import (EARLIEST_TIME, LATEST_TIME, MAX_DURATION_MS, MAX_PROMPT_ID_CHARS,
                                 MIN_POSITIVE_DURATION_MS)
from profiler.errors import CsvFormatError
from profiler.store import SessionStore
from tui.cli import main as cli_main

HEADER = ("Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms,model,session_started,"
          "token_text,timestamp,forward_ms,prompt")


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.mark.slow
def test_the_epoch_exports_as_itself_not_as_an_empty_cell(tmp_path: Path) -> None:
    # the store keeps 0.0 for "no timestamp": the epoch itself must not read back as that
    source = tmp_path / "epoch.csv"
    source.write_text("Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms,timestamp\n"
                      "e,3,3,1,1.5,1970-01-01T00:00:00+00:00\ne,3,4,2,1.5,\n", encoding="utf-8")
    assert run_cli("import", str(source), data_dir=tmp_path / "data").returncode == 0
    exported = run_cli("export", "--all", "-o", "-", data_dir=tmp_path / "data")
    assert exported.returncode == 0, exported.stderr
    rows = [line.split(",") for line in exported.stdout.splitlines()]
    column = rows[0].index("timestamp")
    assert [row[column] for row in rows[1:]] == ["1970-01-01T00:00:00.000000+00:00", ""]


@pytest.mark.slow
def test_an_id_with_surrounding_spaces_can_be_shown_exported_and_deleted(tmp_path: Path) -> None:
    source = tmp_path / "padded.csv"
    source.write_text("Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms\n"
                      "  padded id ,3,3,1,1.5\n padded id,3,4,2,2.5\n", encoding="utf-8")
    data = tmp_path / "data"
    imported = run_cli("import", "--json", str(source), data_dir=data)
    assert imported.returncode == 0, imported.stderr
    assert '"padded id"' in imported.stdout  # both spellings are one session, named without the spaces
    assert "padded id" in run_cli("show", "padded id", data_dir=data).stdout
    exported = run_cli("export", "padded", "-o", "-", data_dir=data)
    assert [line.split(",")[0] for line in exported.stdout.splitlines()[1:]] == ["padded id", "padded id"]
    deleted = run_cli("delete", "padded id", "--yes", data_dir=data)
    assert deleted.returncode == 0, deleted.stderr
    assert SessionStore(data).list_sessions() == []


def test_old_mac_line_ends_still_import_with_their_line_numbers(tmp_path: Path) -> None:
    # Excel for Mac wrote CR-only CSVs: lines are split on CR, LF and CRLF alike, as before
    source = tmp_path / "mac.csv"
    source.write_bytes(b"Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms\r"
                       b"m,3,3,1,1.5\r\nm,3,4,2,2.5\nm,3,5,3,x\r")
    with pytest.raises(CsvFormatError, match="line 4: Per_Token_Latency_ms is 'x'"):
        import_csv(SessionStore(tmp_path / "data"), source)
    source.write_bytes(source.read_bytes().replace(b",x", b",3.5"))
    assert import_csv(SessionStore(tmp_path / "data"), source).rows == 3


# -- the property: import -> export -> import -> fit, or one refusal naming a line

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))


def iso(moment: dt.datetime, zone: dt.timezone | None) -> str:
    return (moment if zone is None else moment.replace(tzinfo=zone)).isoformat()


# values inside the documented bounds, edges included...
good_times = st.one_of(
    st.just(""),
    st.sampled_from(["1970-01-01T00:00:00+00:00", "1970-01-01T01:00:00+01:00", "1969-12-31T23:00:00-01:00",
                     "2199-12-31T23:59:59.999999", "2200-01-01T00:59:59.999999+01:00"]),
    st.builds(iso, st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2199, 12, 30)),
              st.none() | offsets),
)
good_latencies = st.one_of(
    st.sampled_from(["0", "0.0", "-0.0", "1e-6", "9999999.999999", "1E3"]),
    st.floats(min_value=MIN_POSITIVE_DURATION_MS, max_value=MAX_DURATION_MS, exclude_max=True).map(repr),
)
good_ids = st.one_of(
    st.sampled_from([" a ", "%", "_", "-dash", "é 🙂", "x" * MAX_PROMPT_ID_CHARS, "\x85b\x85", "a,b", 'q"uote']),
    st.text(st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=12)
    .filter(lambda text: text.strip()),
)
# ...and outside them: a file holding one of these must be refused, naming its line
bad_times = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59.999999", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00",
                     "2200-01-01T00:00:00", "1969-12-31T23:59:59.999999+00:00", "1970-01-01T00:30:00+01:00"]),
    st.builds(iso, st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(1969, 12, 30)), st.none() | offsets),
    st.builds(iso, st.datetimes(min_value=dt.datetime(2200, 1, 2), max_value=dt.datetime(9999, 12, 31)), st.none() | offsets),
)
bad_latencies = st.sampled_from(["5e-324", "1e-310", "1e-7", "1e7", "1e308", "nan", "inf", "-inf", "-1e-9"])
bad_ids = st.sampled_from(["a\tb", "a\nb", "x" * (MAX_PROMPT_ID_CHARS + 1), "a\x00", "  ", "\u2028", "a\x1b[0m"])
tricky_text = st.lists(
    st.one_of(st.characters(codec="utf-8"),
              st.sampled_from([",", '"', "\n", "\r", "\r\n", " ", "\t", "\x00", "\x1b[31m", "\u2028", "é", "🙂"])),
    max_size=8,
).map("".join)
COLUMNS = HEADER.split(",")
BAD_VALUES = {"Prompt_ID": bad_ids, "session_started": bad_times, "timestamp": bad_times,
              "Per_Token_Latency_ms": bad_latencies, "forward_ms": bad_latencies}


def time_in_bounds(text: str) -> bool:
    if not text:
        return True
    moment = dt.datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    try:
        return EARLIEST_TIME <= moment.astimezone(dt.timezone.utc) < LATEST_TIME
    except OverflowError:
        return False


def latency_in_bounds(text: str) -> bool:
    value = float(text)
    return value == 0 or MIN_POSITIVE_DURATION_MS <= value < MAX_DURATION_MS


def id_in_bounds(text: str) -> bool:
    stripped = text.strip()
    return 0 < len(stripped) <= MAX_PROMPT_ID_CHARS and not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", stripped)


@st.composite
def csv_files(draw):
    """(file text, in bounds?, line of the one value out of bounds) for 2-3 sessions of 3-4 tokens."""
    rows, ids = [], set()
    for position in range(draw(st.integers(2, 3))):
        session_id = draw(good_ids)
        if session_id.strip() in ids:
            session_id = f"s{position}"
        ids.add(session_id.strip())
        input_tokens = draw(st.sampled_from([0, 1, 7, 2**31, 2**53 + 1, 2**63 - 5]) | st.integers(0, 10**6))
        started, prompt = draw(good_times), draw(tricky_text) + f" #{position}"  # distinct: grouped fits need 2
        for k in range(1, draw(st.integers(3, 4)) + 1):
            rows.append({"Prompt_ID": session_id, "Input_Token_Length": str(input_tokens),
                         "Context_Size": str(input_tokens + k - 1), "Token_Index_k": str(k),
                         "Per_Token_Latency_ms": draw(good_latencies), "model": "m", "session_started": started,
                         "token_text": draw(tricky_text), "timestamp": draw(good_times),
                         "forward_ms": draw(good_latencies), "prompt": prompt})
    bad_row = None
    if draw(st.booleans()):  # half the files carry one value out of bounds
        bad_row = draw(st.integers(0, len(rows) - 1))
        column = draw(st.sampled_from(sorted(BAD_VALUES)))
        rows[bad_row][column] = draw(BAD_VALUES[column])
    in_bounds = all(id_in_bounds(row["Prompt_ID"]) and time_in_bounds(row["session_started"])
                    and time_in_bounds(row["timestamp"]) and latency_in_bounds(row["Per_Token_Latency_ms"])
                    and latency_in_bounds(row["forward_ms"]) for row in rows)
    lines = [HEADER] + [",".join(csv_cell(row[column]) for column in COLUMNS) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    # the line an editor shows: line breaks inside quoted cells count
    bad_line = None if bad_row is None else 1 + len(re.findall("\r\n|\r|\n", "\r\n".join(lines[:bad_row + 1]) + "\r\n"))
    return text, in_bounds, bad_line


@pytest.mark.slow  # ~1 minute: every accepted example is fitted twice
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_import_export_import_fit_or_one_refusal_with_its_line(generated) -> None:
    text, in_bounds, bad_line = generated
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        source = work / "generated.csv"
        source.write_text(text, encoding="utf-8", newline="")
        first = SessionStore(work / "first")
        # WHEN imported: either refused with one line naming a line of the file...
        try:
            imported = import_csv(first, source)
        except CsvFormatError as exc:
            message = str(exc)
            assert message.startswith(f"{source} line {bad_line}: "), message
            assert "\n" not in message and "\r" not in message
            assert not in_bounds, f"refused a file inside the documented bounds: {message}"
            event("refused")
            return
        event("accepted")
        # ...or accepted, and then everything downstream works
        assert in_bounds, "accepted a value outside the documented bounds"
        export_sessions(first, None, work / "first.csv")
        second = SessionStore(work / "second")
        # (export orders sessions by session_started, so compare them as sets)
        assert sorted(import_csv(second, work / "first.csv").session_ids) == sorted(imported.session_ids)
        assert second.token_rows() == first.token_rows()
        export_sessions(second, None, work / "second.csv")
        assert (work / "second.csv").read_bytes() == (work / "first.csv").read_bytes()
        for protocol in ("seed", "grouped"):
            # in-process, so an exception fails here with its traceback instead of hiding in a subprocess
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = cli_main(["fit", "--data-dir", str(work / "second"), "--json", "--protocol", protocol])
            assert status == 0, err.getvalue()
            assert json.loads(out.getvalue())["tokens"] == imported.rows
        first.close()
        second.close()


@pytest.mark.parametrize("value, accepted", [
    ("1970-01-01T00:00:00+00:00", True), ("2199-12-31T23:59:59.999999+00:00", True),
    ("2200-01-01T00:00:00+00:00", False), ("2200-01-01T00:59:59+01:00", True), ("1969-12-31T23:59:59-00:01", True),
    ("1969-12-31T23:59:59.999999+00:00", False), ("0001-01-01T00:00:00+01:00", False),
    ("9999-12-31T23:59:59.999999", False),
])
def test_time_bounds_are_in_utc(value: str, accepted: bool, tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    source.write_text("Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms,timestamp\n"
                      f"t,3,3,1,1.5,{value}\n", encoding="utf-8")
    store = SessionStore(tmp_path / "data")
    if accepted:
        import_csv(store, source)
        exported = dt.datetime.fromisoformat(store.token_rows()[0]["timestamp"])
        assert exported == dt.datetime.fromisoformat(value)  # the same instant, to the microsecond
    else:
        with pytest.raises(CsvFormatError, match="line 2: timestamp"):
            import_csv(store, source)
