"""Sweeps: a grid of configurations (batch, length, precision, preset, concurrency) run as one study.

- grid.py: the spec (what to vary) and the cells, in a shuffled, seeded order with repeats spread;
- configs.py: precisions and named configuration presets (and a user's TOML file) as backend options;
- runner.py: runs the cells one after another, loading the model anew at each configuration change,
  storing each cell's status (done, skipped with its reason, interrupted) so a sweep can resume;
- cells.py: how one local or remote cell runs; memory.py: peak memory around a cell;
- results.py: each cell's figures computed from the sessions in the store, and the scaling analysis;
- quality.py: configurations against the baseline (speed-up with a CI, output quality, cost).

No torch at import: a spec is checked (and a bad flag refused) before any model loads.
"""
