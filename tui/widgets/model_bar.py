"""The always-visible line naming what runs: model, label, dtype, quantisation, device."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static


SEPARATOR = " · "
NOISE_LONG, NOISE_SHORT = "⚠ noisy machine", "⚠ noisy"
SHORT_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16", "float64": "f64"}
MIN_NAME = 8
"""Cells the model's name keeps, at least, when it is elided to make room for the device and context."""


def _elide_middle(text: str, width: int) -> str:
    """`Qwen/Qwen2.5-0.5B-Instruct` -> `Qwen/Qw…struct`: both ends say more than the middle."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = width // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def backend_line(info, noise: str | None, width: int | None) -> Text:
    """The bar's line for `info`, fitted to `width` cells (None: no limit).

    The device and the context are what a reader needs to trust a figure, so they stay; the less
    telling parts give way first, in this order: `quant none`, the noise flag's second word, the
    dtype's long name, the `model` prefix, the model's name (elided in the middle), the GPU's name.
    """
    steps = [dict(), dict(quant=False), dict(quant=False, noise=False), dict(quant=False, noise=False, dtype=False),
             dict(quant=False, noise=False, dtype=False, prefix=False)]
    for step in steps:
        line = _assemble(info, noise, **step)
        if width is None or line.cell_len <= width:
            return line
    # the name (and then the GPU's) takes what the rest leaves, down to MIN_NAME cells
    for gpu in (True, False):
        rest = _assemble(info, noise, quant=False, noise=False, dtype=False, prefix=False, gpu=gpu, name="")
        room = max(MIN_NAME, width - rest.cell_len)
        line = _assemble(info, noise, quant=False, noise=False, dtype=False, prefix=False, gpu=gpu,
                         name=_elide_middle(info.model, room))
        if line.cell_len <= width:
            return line
    return line  # still too wide: the terminal cuts the end, as it would anyway


def _assemble(info, noise_flag: str | None, *, quant: bool = True, noise: bool = True, dtype: bool = True,
              prefix: bool = True, gpu: bool = True, name: str | None = None) -> Text:
    parts: list = []
    if noise_flag:
        parts += [(NOISE_LONG if noise else NOISE_SHORT, "bold yellow"), (SEPARATOR, "dim")]
    if prefix:
        parts.append(("model ", "dim"))
    parts.append((info.model if name is None else name, "bold"))
    if info.label:
        parts += [" ", (f"[{info.label}]", "bold yellow")]
    dtype_text = info.dtype if dtype else SHORT_DTYPES.get(info.dtype, info.dtype)
    quant_shown = info.quant if (quant or info.quant not in ("", "none")) else ""
    fields = [(field, value) for field, value in (("dtype", dtype_text), ("quant", quant_shown),
                                                  ("device", info.device), ("gpu", info.gpu_name if gpu else ""),
                                                  ("ctx", info.max_context)) if value]
    for number, (field, value) in enumerate(fields):
        shown_name = "" if (field == "dtype" and not dtype) else f"{field} "
        parts += [(SEPARATOR if number else " ", "dim"), (shown_name, "dim"), str(value)]
    return Text.assemble(*parts)


class ModelBar(Static):
    """What runs, and a flag when the machine is noisy (tui/noise_check.py), shown after it."""

    noise: str | None = None
    """The noisy-machine flag (None: quiet, or not checked yet)."""
    _shown: Text = Text()
    _info = None
    """What show_backend shows, kept so the line can be fitted again when the width changes."""

    def update(self, content="", *args, **kwargs) -> None:  # type: ignore[override]
        # every show_* goes through here: the noise flag stays on whatever the bar shows
        self._info = None
        self._shown = content if isinstance(content, Text) else Text(str(content))
        super().update(self._with_noise(), *args, **kwargs)

    def show_noise(self, flag: str | None) -> None:
        self.noise = flag
        self.tooltip = flag  # the whole finding; the bar itself has room for two words
        super().update(self._with_noise())

    def on_resize(self, _event: events.Resize) -> None:
        if self._info is not None:
            super().update(self._with_noise())

    def _with_noise(self) -> Text:
        if self._info is not None:
            width = self.content_size.width or None  # not laid out yet: fitted again on the first resize
            return backend_line(self._info, self.noise, width)
        # first, short: the model's name and fields fill the line and a narrow terminal cuts its end
        if not self.noise:
            return self._shown
        return Text.assemble((NOISE_LONG, "bold yellow"), (SEPARATOR, "dim"), self._shown)

    def show_loading(self, what: str, fraction: float) -> None:
        filled = int(round(fraction * 20))
        bar = "█" * filled + "░" * (20 - filled)
        self.update(Text.assemble(("loading model ", "bold"), bar, f" {fraction:4.0%}  {what}"))

    def show_failed(self, error: str) -> None:
        self.update(Text.assemble(("no model: ", "bold red"), error,
                                  ("  (past sessions can still be browsed, fitted and exported)", "dim")))

    def show_backend(self, info) -> None:
        """`model NAME [label] dtype float32 · quant none · device cpu · ctx 4096`: every field apart,
        shortened (backend_line) where the bar is too narrow for all of it."""
        self.update(Text())
        self._info = info
        super().update(self._with_noise())
