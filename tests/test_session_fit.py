"""model/session_fit.py on a real store: what the prediction panel gets when nothing can be held out,
and when the chosen sessions can't be fitted together."""

from __future__ import annotations

import pytest

from model.session_fit import build_report, sessions_to_fit
from profiler.errors import InputError
from profiler.store import SessionStore
from seeded_sessions import Spec, seed_sessions


def test_one_prompt_repeated_is_fitted_without_a_held_out_error(tmp_path):
    # GIVEN one prompt run twice: grouped folds have nothing to hold out
    store = seed_sessions(SessionStore(tmp_path / "data"), [Spec("aaaa0001-one", "p", seed=1, day=1),
                                                            Spec("aaaa0002-two", "p", seed=2, day=2)])
    ids, scope = sessions_to_fit(store.list_sessions(), [], store.list_sessions()[0])
    assert sorted(ids) == ["aaaa0001-one", "aaaa0002-two"] and scope.startswith("2 sessions of scripted")
    report = build_report(store, ids, scope, ["phase", "ridge"], horizon=512, next_n=16)
    # THEN it says why, and still predicts with terms in ms
    assert "2 different prompts" in report.held_out_note
    for fit in report.fits:
        assert fit.mae is None and fit.rmse is None and fit.figures["folds"] == 0
        assert all(term["unit"] == "ms" for term in fit.figures["terms"])
        assert fit.next_tokens_ms > 0 and len(fit.curve) == len(report.curve_contexts)
    phase = report.fits[0].figures["terms"]
    assert [t["name"] for t in phase] == ["decode fixed", "per context token", "first token fixed", "1st, per input token"]
    # the decode formula of the seeded sessions: 4 ms + 0.01 ms per context token + a spread
    assert phase[1]["value"] == pytest.approx(0.01, abs=0.01)


def test_marked_sessions_of_two_models_are_one_clear_error(tmp_path):
    store = seed_sessions(SessionStore(tmp_path / "data"), [Spec("aaaa0001-a", "p", day=1),
                                                            Spec("bbbb0001-b", "q", day=2, model="another")])
    with pytest.raises(InputError, match="configurations"):
        build_report(store, ["aaaa0001-a", "bbbb0001-b"], "2 marked sessions", ["phase"], horizon=512, next_n=16)
