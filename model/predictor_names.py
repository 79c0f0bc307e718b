"""The predictors' names, importable without numpy or pandas.

The app lists them in its first frame; importing `model.predictors` for that would load pandas
and numpy (~0.3 s) before anything is drawn. `model.predictors` checks at import that its
classes carry exactly these names, so the two can't drift apart.
"""

PREDICTOR_NAMES = ("phase", "ridge", "buckets")
DEFAULT_PREDICTOR = "phase"
