"""Measured vs possible: the achieved memory-bandwidth fraction of recorded sessions."""

from __future__ import annotations

import pytest

from model.efficiency import bandwidth_fraction, session_efficiency
from profiler.architectures import load_architecture

H100_NVML = "NVIDIA H100 80GB HBM3"


def _session(**fields):
    """A session dict shaped like SessionStore.list_sessions() rows (get_session adds `environment`)."""
    session = {"model": "mistralai/Mistral-7B-Instruct-v0.3", "quant": "none", "dtype": "bfloat16",
               "gpu_name": H100_NVML, "decode_p50_ms": 8.6, "batch_size": 1, "input_tokens": 10, "tokens": 9}
    session.update(fields)
    return session


def test_half_the_floor_speed_is_half_the_bandwidth():
    # Mistral-7B bf16 on an H100: floor ≈ 4.3 ms/token (issue 5); measured 8.6 ms -> ≈ 0.5
    assert bandwidth_fraction(_session()) == pytest.approx(0.5, rel=0.02)
    details = session_efficiency(_session())
    assert (details.gpu, details.model, details.measured_ms) == ("H100", "mistral-7b-v0.3", 8.6)
    assert details.fraction == pytest.approx(details.floor_ms / 8.6)


@pytest.mark.parametrize("fields", [
    {"gpu_name": ""},  # a CPU session
    {"gpu_name": "NVIDIA GeForce RTX 4060 Ti"},  # a GPU the table doesn't hold
    {"model": "someone/unknown-model"},
    {"decode_p50_ms": None},
    {"tokens": 1},  # no decode step
])
def test_unknown_is_none(fields):
    assert bandwidth_fraction(_session(**fields)) is None


def test_recorded_model_config_beats_the_name():
    # a fine-tune with its own name but Llama-2-7B's shapes, as `collect` records it in the environment
    config = {key: value for key, value in load_architecture("llama-2-7b").items() if key != "architectures"}
    named = _session(model="llama-2-7b")
    recorded = _session(model="my-org/my-finetune", environment={"model_config": config})
    assert bandwidth_fraction(recorded) == pytest.approx(bandwidth_fraction(named))


def test_quantised_sessions_have_a_lower_floor():
    assert bandwidth_fraction(_session(quant="8bit")) < bandwidth_fraction(_session())


def test_through_a_real_store_after_csv_import(tmp_path):
    csv_io = pytest.importorskip("profiler.csv_io")
    from profiler.store import SessionStore

    lines = ["Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms,model,gpu_name,dtype"]
    latencies = [50.0] + [8.6] * 8  # the first token is prefill; decode median 8.6 ms
    for k, latency in enumerate(latencies, start=1):
        lines.append(f"s1,10,{10 + k - 1},{k},{latency},mistral-7b-v0.3,{H100_NVML},bfloat16")
    path = tmp_path / "tokens.csv"
    path.write_text("\n".join(lines) + "\n")
    store = SessionStore(tmp_path / "store")
    try:
        (session_id,) = csv_io.import_csv(store, path).session_ids
        session = store.get_session(session_id)
        listed = store.list_sessions()[0]
    finally:
        store.close()
    assert session["decode_p50_ms"] == pytest.approx(8.6)
    assert bandwidth_fraction(session) == pytest.approx(0.5, rel=0.02)
    assert bandwidth_fraction(listed) == bandwidth_fraction(session)
