"""The always-visible line naming what runs: model, label, dtype, quantisation, device."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


SEPARATOR = " · "


class ModelBar(Static):
    """What runs, and a flag when the machine is noisy (tui/noise_check.py), shown after it."""

    noise: str | None = None
    """The noisy-machine flag (None: quiet, or not checked yet)."""
    _shown: Text = Text()

    def update(self, content="", *args, **kwargs) -> None:  # type: ignore[override]
        # every show_* goes through here: the noise flag stays on whatever the bar shows
        self._shown = content if isinstance(content, Text) else Text(str(content))
        super().update(self._with_noise(), *args, **kwargs)

    def show_noise(self, flag: str | None) -> None:
        self.noise = flag
        self.tooltip = flag  # the whole finding; the bar itself has room for two words
        super().update(self._with_noise())

    def _with_noise(self) -> Text:
        # first, short: the model's name and fields fill the line and a narrow terminal cuts its end
        if not self.noise:
            return self._shown
        return Text.assemble(("⚠ noisy machine", "bold yellow"), (SEPARATOR, "dim"), self._shown)

    def show_loading(self, what: str, fraction: float) -> None:
        filled = int(round(fraction * 20))
        bar = "█" * filled + "░" * (20 - filled)
        self.update(Text.assemble(("loading model ", "bold"), bar, f" {fraction:4.0%}  {what}"))

    def show_failed(self, error: str) -> None:
        self.update(Text.assemble(("no model: ", "bold red"), error,
                                  ("  (past sessions can still be browsed, fitted and exported)", "dim")))

    def show_backend(self, info) -> None:
        """`model NAME [label] dtype float32 · quant none · device cpu · ctx 4096`: every field apart."""
        parts: list = [("model ", "dim"), (info.model, "bold")]
        if info.label:
            parts += [" ", (f"[{info.label}]", "bold yellow")]
        fields = [(name, value) for name, value in (("dtype", info.dtype), ("quant", info.quant),
                                                    ("device", info.device), ("gpu", info.gpu_name),
                                                    ("ctx", info.max_context)) if value]
        for number, (name, value) in enumerate(fields):
            parts += [(SEPARATOR if number else " ", "dim"), (f"{name} ", "dim"), str(value)]
        self.update(Text.assemble(*parts))
