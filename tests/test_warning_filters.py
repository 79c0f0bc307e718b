"""The suite's warning filters (pyproject.toml) turn deprecations met by our code into errors.

Each test raises a warning as it would arise in the code and expects the configured filter to make
it an exception; none of them sets a filter itself. Run outside pytest's config, they would only warn.
"""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module_name: str, category: type[Warning]) -> None:
    """Issue a warning attributed to `module_name`, as code in that module would (its frame's __name__)."""
    code = compile("warnings.warn('old API', category)", f"<{module_name}>", "exec")
    exec(code, {"__name__": module_name, "warnings": warnings, "category": category})  # noqa: S102


@pytest.mark.parametrize("module_name", ["profiler.backends.hf_generation", "tui.app", "model.compare", "profiler"])
@pytest.mark.parametrize("category", [FutureWarning, DeprecationWarning])
def test_a_deprecation_raised_in_our_modules_is_an_error(module_name, category):
    with pytest.raises(category):
        _warn_from(module_name, category)


@pytest.mark.parametrize("module_name", ["transformers.modeling_utils", "modeling_helpers"])
def test_a_deprecation_raised_elsewhere_stays_a_warning(module_name):
    # the check above is not an "everything is an error" filter: third-party code only warns
    with pytest.warns(FutureWarning):
        _warn_from(module_name, FutureWarning)


def test_a_deprecated_cache_argument_to_the_model_is_an_error(embedded_backend):
    backend = embedded_backend
    model = backend.model
    if backend.cache_keyword == "past_key_values":
        pytest.skip("this transformers still takes past_key_values: nothing is deprecated to catch")
    ids = backend.torch.tensor([backend.encode("hi")])
    # the warning transformers gives for the old name is raised in torch's frame, not ours: the
    # message filter is what catches it
    with pytest.raises(FutureWarning, match="past_key_values"):
        with backend.torch.inference_mode():
            model(input_ids=ids, past_key_values=backend.new_cache(), use_cache=True)
