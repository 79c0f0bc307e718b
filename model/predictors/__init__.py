"""The predictors `fit` and the app offer, by name. `phase` is the default; `ridge` is the seed's."""

from __future__ import annotations

from profiler.errors import InputError
from model.predictor_names import DEFAULT_PREDICTOR as _DEFAULT_NAME, PREDICTOR_NAMES
from model.predictors.base import LatencyPredictor
from model.predictors.buckets import BucketPredictor
from model.predictors.phase import PhasePredictor, RooflineUnits
from model.predictors.ridge import RidgePredictor

PREDICTORS: dict[str, type[LatencyPredictor]] = {
    cls.name: cls for cls in (PhasePredictor, RidgePredictor, BucketPredictor)
}
DEFAULT_PREDICTOR = PhasePredictor.name
# the light copy the app's first frame reads (model/predictor_names.py) must name the same classes
if tuple(PREDICTORS) != PREDICTOR_NAMES or DEFAULT_PREDICTOR != _DEFAULT_NAME:
    raise ImportError("model/predictor_names.py is out of step with model.predictors")


def predictor_class(name: str) -> type[LatencyPredictor]:
    try:
        return PREDICTORS[name]
    except KeyError:
        raise InputError(f"unknown predictor {name!r}; choose from {', '.join(PREDICTORS)}") from None


def new_predictor(name: str, roofline: RooflineUnits | None = None) -> LatencyPredictor:
    """An unfitted predictor; roofline units apply to `phase` only."""
    cls = predictor_class(name)
    return cls(roofline) if cls is PhasePredictor else cls()


__all__ = ["DEFAULT_PREDICTOR", "PREDICTORS", "BucketPredictor", "LatencyPredictor", "PhasePredictor",
           "RidgePredictor", "RooflineUnits", "new_predictor", "predictor_class"]
