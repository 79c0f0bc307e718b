"""The prompt editor with the run settings beside it and the prompt's live token count."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, TextArea

from profiler.backends.base import SamplingSettings
from profiler.collect import RunSettings
from profiler.errors import InputError
from profiler.flag_checks import SETTING_LABELS, without_flags
from tui.widgets.state_checkbox import StateCheckbox

DEFAULT_PROMPT = ""
IGNORE_EOS_DEFAULT = True
"""The app asks for every token by default (a latency profile wants the length it was given)."""


def eos_label(ignore: bool) -> str:
    """The checkbox's state in words, readable without colour."""
    return f"ignore EOS: {'on' if ignore else 'off'}"


class PromptEditor(Horizontal):
    """TextArea on the left, settings on the right. `encode` is set once a backend is loaded."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.encode = None
        """The loaded backend's `encode`, for the token count; None while loading."""

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-column"):
            yield TextArea(DEFAULT_PROMPT, id="prompt", soft_wrap=True, show_line_numbers=False)
            yield Label("prompt: 0 tokens", id="prompt-tokens")
        with Vertical(id="settings"):
            yield Label("max new tokens")
            yield Input("128", id="max-new-tokens", type="integer")
            yield Label("temperature (0 = greedy)")
            yield Input("0", id="temperature", type="number")
            yield Label("top-p")
            yield Input("1.0", id="top-p", type="number")
            yield Label("warm-up runs / repeats")
            with Horizontal(id="warmup-repeat"):
                yield Input("1", id="warmup", type="integer")
                yield Input("1", id="repeat", type="integer")
            # on here (a run gives every token asked for; the CLI's --ignore-eos is off unless given):
            # the label says which, as the box's colour alone would not
            yield StateCheckbox(eos_label(IGNORE_EOS_DEFAULT), value=IGNORE_EOS_DEFAULT, id="ignore-eos")
            # collect --breakdown: one more generation under torch.profiler after the timed ones (they stay
            # as without it); the session's detail screen shows its operator classes
            breakdown = StateCheckbox("breakdown", value=False, id="breakdown")
            breakdown.tooltip = "a profiled pass after the timed runs: time per operator class (session detail)"
            yield breakdown

    @on(Checkbox.Changed, "#ignore-eos")
    def _label_eos(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = eos_label(event.value)

    @property
    def prompt(self) -> str:
        return self.query_one("#prompt", TextArea).text

    @property
    def breakdown(self) -> str | None:
        """The profiled pass asked for after the timed runs ('classes', as `collect --breakdown`), or None."""
        return "classes" if self.query_one("#breakdown", Checkbox).value else None

    @on(TextArea.Changed, "#prompt")
    def _count_tokens(self) -> None:
        self.refresh_token_count()

    def refresh_token_count(self) -> None:
        label = self.query_one("#prompt-tokens", Label)
        if self.encode is None:
            label.update("prompt: tokens counted once the model is loaded")
            return
        count = len(self.encode(self.prompt)) if self.prompt else 0
        label.update(f"prompt: {count} tokens")

    def settings(self) -> RunSettings:
        """The settings as typed; raises InputError naming the field (as labelled here, not its CLI flag)."""

        def number(widget_id: str, kind: type):
            raw = self.query_one(f"#{widget_id}", Input).value.strip()
            try:
                return kind(raw)
            except ValueError:
                raise InputError(f"{SETTING_LABELS['--' + widget_id]}: {raw!r} is not a number") from None

        sampling = SamplingSettings(temperature=number("temperature", float), top_p=number("top-p", float))
        settings = RunSettings(max_new_tokens=number("max-new-tokens", int),
                               ignore_eos=self.query_one("#ignore-eos", Checkbox).value,
                               warmup=number("warmup", int), repeat=number("repeat", int), sampling=sampling)
        try:
            settings.validate()
        except InputError as exc:
            raise InputError(without_flags(str(exc))) from None
        return settings
