"""ctrl+t: the estimator in the app — pick a model, GPU, dtype/quantisation, batch and context with
the keyboard and read memory, time floors and whether it fits, recomputed on every change.

`estimate_from_names` takes ~140 µs, so every Select change and keystroke re-runs it directly on
the UI thread: a worker would cost more than the work. The figures are `format_estimate`'s text,
the same as `tokenlat-tui estimate` prints, so the app and the CLI never disagree.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Select, Static

from model.estimate import Estimate, estimate_from_names
from model.estimate_report import format_estimate
from model.hardware import CPU_NAME, list_gpus
from model.roofline import DTYPE_BYTES, QUANTS
from profiler.architectures import list_architectures
from profiler.errors import ProfilerError, first_line

DEFAULT_MODEL = "mistral-7b-v0.3"
DEFAULT_GPU = "H100"

COUNT_FIELDS = (("batch", "batch", 1), ("input-tokens", "input tokens", 512), ("output-tokens", "output tokens", 256))
"""(id, label, default) of the integer fields; the id with '-' → '_' is the EstimateInputs field."""


def gpu_names() -> list[str]:
    # `cpu` needs a user-given bandwidth, which the CLI takes as flags; the screen offers the GPU table only
    return [name for name in list_gpus() if name != CPU_NAME]


class InputsColumn(Vertical):
    """The inputs, one label above each field; where the column is too short for the blank line above
    each label (80×24) the blank lines go (`-compact`), so no label scrolls out of sight."""

    def on_resize(self, _event: events.Resize) -> None:
        labels = len(self.query(Label))
        self.set_class(self.content_size.height < len(self.children) + labels, "-compact")


class EstimateScreen(ModalScreen[None]):
    """Choose the inputs on the left; the estimate (or one line saying what is wrong) on the right."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="estimate.close")]

    def __init__(self, *, model: str = DEFAULT_MODEL, gpu: str = DEFAULT_GPU) -> None:
        super().__init__()
        self._initial_model = model if model in list_architectures() else DEFAULT_MODEL
        self._initial_gpu = gpu if gpu in gpu_names() else DEFAULT_GPU
        self.last_estimate: Estimate | None = None
        """The estimate on screen; None while the inputs are invalid (tests compare it with the model)."""
        self.error: str | None = None
        """The one-line message shown instead of figures, when the inputs make no sense."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="estimate-box"):
            with InputsColumn(id="estimate-inputs"):
                yield Label("model")
                yield Select([(name, name) for name in list_architectures()], value=self._initial_model,
                             allow_blank=False, id="estimate-model")
                yield Label("GPU")
                yield Select([(name, name) for name in gpu_names()], value=self._initial_gpu,
                             allow_blank=False, id="estimate-gpu")
                yield Label("dtype")
                yield Select([(name, name) for name in ("auto", *DTYPE_BYTES)], value="auto", allow_blank=False,
                             id="estimate-dtype")
                yield Label("quantisation")
                yield Select([(name, name) for name in QUANTS], value="none", allow_blank=False,
                             id="estimate-quant")
                for field_id, label, default in COUNT_FIELDS:
                    yield Label(label)
                    yield Input(str(default), type="integer", id=f"estimate-{field_id}")
            with Vertical(id="estimate-output"):
                yield Static("", id="estimate-error")
                with VerticalScroll(id="estimate-scroll"):
                    yield Static("", id="estimate-figures")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#estimate-box").border_title = "estimate · lower bounds before you run (escape closes)"
        self.query_one("#estimate-model", Select).focus()
        self.recompute()

    @on(Select.Changed)
    @on(Input.Changed)
    def _inputs_changed(self) -> None:
        self.recompute()

    def inputs(self) -> dict:
        """The keyword arguments for `estimate_from_names`; ValueError (one line) for a non-number."""
        options: dict = {
            "model": self.query_one("#estimate-model", Select).value,
            "gpu": self.query_one("#estimate-gpu", Select).value,
            "dtype": self.query_one("#estimate-dtype", Select).value,
            "quant": self.query_one("#estimate-quant", Select).value,
        }
        for field_id, label, _default in COUNT_FIELDS:
            text = self.query_one(f"#estimate-{field_id}", Input).value.strip()
            try:
                options[field_id.replace("-", "_")] = int(text)
            except ValueError:
                raise ValueError(f"{label} must be a whole number, not {text!r}") from None
        return options

    def recompute(self) -> None:
        """Re-run the estimate; invalid inputs keep the last figures dimmed under a one-line message."""
        try:
            options = self.inputs()
            model, gpu = options.pop("model"), options.pop("gpu")
            result = estimate_from_names(model, gpu=gpu, **options)
        except (ValueError, ProfilerError) as exc:
            self.error = first_line(exc, None)
            self.last_estimate = None
            self.query_one("#estimate-error", Static).update(Text(self.error, style="bold red"))
            self.query_one("#estimate-figures").add_class("-stale")
            return
        self.error = None
        self.last_estimate = result
        fits = "fits" if result.fits else "does NOT fit"
        self.query_one("#estimate-error", Static).update(
            Text(f"{result.model} on {result.hardware}: {fits}", style="bold green" if result.fits else "bold yellow"))
        figures = self.query_one("#estimate-figures", Static)
        figures.remove_class("-stale")
        figures.update(Text(format_estimate(result)))
