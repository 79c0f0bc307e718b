"""`estimate` on a model that does not fit: its time floors and GPU cost are printed as hypothetical
("IF IT FIT"), not as bounds of a run that can happen. The CLI through main(); no subprocess."""

from __future__ import annotations

from tui.cli import main


def _report(capsys, *args: str) -> str:
    assert main(["estimate", *args]) == 0
    return capsys.readouterr().out


def test_a_model_that_does_not_fit_has_hypothetical_floors(capsys):
    out = _report(capsys, "--model", "mistral-7b", "--gpu", "RTX 4060", "--price-per-gpu-hour", "1")
    assert "DOES NOT FIT" in out
    time_heading = next(line for line in out.splitlines() if line.startswith("Time"))
    assert "IF IT FIT" in time_heading and "GPU (if it fit)" in out
    assert "GPU (lower bound)" not in out


def test_a_model_that_fits_keeps_plain_lower_bounds(capsys):
    out = _report(capsys, "--model", "mistral-7b", "--gpu", "RTX 4060", "--quant", "4bit",
                  "--price-per-gpu-hour", "1")
    assert "DOES NOT FIT" not in out and "IF IT FIT" not in out
    assert "Time — lower bounds" in out and "GPU (lower bound)" in out
