"""Where inside a decode step the time goes: a profiled pass grouped by operator class.

`collect --breakdown` runs one more generation after the timed ones, on the same prompt and
settings, under torch.profiler; each operator is charged to the module of the model that ran it
(classes.py), per token (profiled_pass.py). The pass is stored apart from the timed sessions
(profiler/store/breakdowns.py) and summarised per class (summary.py).
"""

from profiler.breakdown.classes import CLASSES, labelled_modules, module_class
from profiler.breakdown.profiled_pass import run_profiled_pass
from profiler.breakdown.summary import ClassRow, class_rows

__all__ = ["CLASSES", "ClassRow", "class_rows", "labelled_modules", "module_class", "run_profiled_pass"]
