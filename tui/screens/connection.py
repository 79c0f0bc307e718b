"""The connection form (ctrl+o): run prompts on the local model or on a server, and how to reach it.

Keyboard only: tab moves between fields, enter (in any text field) or ctrl+s applies, escape
leaves unchanged. An empty server URL means the local model. The form is checked as a whole when
applied (`ConnectionSettings.to_options`): a bad field is one notification line and the form stays
open. What was applied is remembered by the run controller for the app session and filled in the
next time the form opens. Nothing is sent to the server until a run (ctrl+r).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static

from profiler.errors import InputError
from profiler.remote.options import APIS, CREDENTIALS_WARNING
from tui.connection_settings import ConnectionSettings, describe
from tui.session_view import timing_label
from tui.widgets.state_checkbox import StateCheckbox

ENDPOINT_CHOICES = ("chat", "completions", "generate")
"""openai: chat | completions; ollama: chat | generate (a wrong pair is named when applied)."""

# (field id, label, placeholder) of the text fields, in tab order
TEXT_FIELDS = (
    ("server", "server URL", "empty: the local model · e.g. http://127.0.0.1:8000"),
    ("server_model", "server model", "the request's model field (needed for ollama)"),
    ("concurrency", "concurrency", "streams in flight"),
    ("api_key_env", "API key env var", "NAME of a variable holding the key (never the key)"),
    ("stream_timeout", "stream timeout s", "seconds without data before a stream counts as stalled"),
    ("tokenizer", "tokenizer folder", "optional: counts tokens when the server doesn't per chunk"),
)


class ConnectionScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ConnectionScreen { align: center middle; }
    ConnectionScreen > Vertical { width: 90%; max-width: 100; height: auto; border: thick $primary;
                                  background: $surface; padding: 0 2; }
    ConnectionScreen Grid { grid-size: 2; grid-columns: 18 1fr; grid-rows: 1; grid-gutter: 1 0; height: auto;
                            margin-top: 1; }
    ConnectionScreen #connection-status { margin-top: 1; }
    ConnectionScreen #connection-keys { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply", priority=True)]

    def __init__(self, controller) -> None:
        super().__init__()
        self.controller = controller
        """The main screen's RunController: where the choice is applied and remembered."""

    def compose(self) -> ComposeResult:
        settings: ConnectionSettings = self.controller.connection
        with Vertical():
            yield Label("[b]Run prompts on[/b] the local model or a server")
            with Grid():
                for name, label, placeholder in TEXT_FIELDS[:1]:
                    yield Label(label)
                    yield Input(getattr(settings, name), placeholder=placeholder, id=name, compact=True)
                yield Label("API")
                yield Select([(api, api) for api in APIS], value=settings.api, allow_blank=False, id="api",
                             compact=True)
                yield Label("endpoint")
                yield Select([(e, e) for e in ENDPOINT_CHOICES], value=settings.endpoint, allow_blank=False,
                             id="endpoint", compact=True)
                for name, label, placeholder in TEXT_FIELDS[1:]:
                    yield Label(label)
                    yield Input(getattr(settings, name), placeholder=placeholder, id=name, compact=True)
                yield Label("TLS")
                yield StateCheckbox("don't verify the certificate (insecure)", settings.insecure, id="insecure",
                               compact=True)
                yield Label("token counts")
                # --no-tokenizer: by default a server model that names a local folder or a model in the
                # HF cache counts tokens with its own tokenizer (as AIPerf does)
                yield StateCheckbox("don't use the server model's own tokenizer", settings.no_tokenizer,
                                    id="no_tokenizer", compact=True)
            yield Static("", id="connection-status")
            yield Static("enter or ctrl+s applies · escape leaves it as it was · tab moves", id="connection-keys")

    def on_mount(self) -> None:
        self.query_one("#server", Input).focus()
        self._show_status()

    def settings(self) -> ConnectionSettings:
        """What the form holds now (as typed; checked by `to_options`)."""
        values = {name: self.query_one(f"#{name}", Input).value for name, _label, _placeholder in TEXT_FIELDS}
        return ConnectionSettings(api=str(self.query_one("#api", Select).value),
                                  endpoint=str(self.query_one("#endpoint", Select).value),
                                  insecure=self.query_one("#insecure", Checkbox).value,
                                  no_tokenizer=self.query_one("#no_tokenizer", Checkbox).value, **values)

    def _show_status(self) -> None:
        """Where runs would go with the form as it is, or what is wrong with it (checked as you type)."""
        status = self.query_one("#connection-status", Static)
        try:
            options = self.settings().to_options()
        except InputError as exc:
            status.update(Text.assemble(("✗ ", "bold red"), str(exc)))
            return
        if options is None:
            status.update(Text.assemble("runs go to: ", ("the local model", "bold"), " (device timing)"))
        else:
            status.update(Text.assemble("runs go to: ", (describe(options), "bold"),
                                        f" · {timing_label({'timing': 'arrival'})}"))

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self._show_status()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        settings = self.settings()
        try:
            options = settings.to_options()
        except InputError as exc:
            self.notify(str(exc), title="connection not changed", severity="error")
            return
        if options is not None and options.dropped_credentials:
            self.notify(CREDENTIALS_WARNING, title="credentials dropped", severity="warning", timeout=8)
            settings = ConnectionSettings.from_options(options)  # never remembered with the password
        self.controller.connect(settings, options)
        where = "the local model" if options is None else describe(options)
        self.notify(f"runs go to {where} (ctrl+r runs the prompt)", title="connection", timeout=4)
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
