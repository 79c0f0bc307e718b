"""F1 / ?: every key, rendered from Markdown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from tui.session_view import ARRIVAL_LABEL, dropped_at_narrow_widths

HELP = f"""\
# tokenlat-tui keys

| Key | What it does |
| --- | --- |
| `p` | type the prompt: focus starts on the sessions table, where letters are commands; `escape` in the editor returns there |
| `ctrl+r` | run the prompt (warm-up runs, then repeats) |
| `escape` | stop the run (or a run followed from another process, or a model load): the session is kept, marked *interrupted* |
| `ctrl+l` | load the model again (after a failed or cancelled load, or an engine that stopped); while it loads, cancel the load (say, to wait for a run another process is measuring: the app says when one is) |
| `ctrl+e` | export the marked sessions (or all) to CSV |
| `ctrl+f` | refit the prediction panel |
| `tab` / `shift+tab` | next / previous panel or field (the focused panel's border turns heavy: ┏━┓) |
| `space` | (sessions table) mark a session for fit, export, delete, compare |
| `c` | (sessions table) compare the marked sessions (two or more; the earliest is the baseline): verdict, TTFT/p50/p95/p99/tok/s with each change's interval, latency vs context overlaid |
| `s` / `S` | (sessions table) sort by the next column / reverse |
| `r` | read the store again now (the table follows it anyway: sessions from any process appear, end and go within a second, and a running session's row counts its tokens) |
| `delete` | (sessions table) delete the marked or highlighted session(s), after asking |
| `enter` / `v` | (sessions table) the session in detail: latency over the whole run, histogram with p50/p95/p99, the slowest tokens and what was happening (`c` switches the x axis to context, `escape` returns) and, when the run had one, its profiled pass by operator class |
| `tab`, `↑` / `↓` | (session detail) highlight a token in the spike list: under the pass's table, the profiled pass's step at the same k, ms and share per class, beside the timed token's latency |
| `t` | (session detail) write the run as a trace file (`tokenlat-trace-<id>.json` in the current directory, never replacing one): open it in ui.perfetto.dev or chrome://tracing |
| `enter` | (horizon, next N) refit with the new value |
| `ctrl+o` | connect: run prompts on the local model or on a server (OpenAI-compatible or Ollama: URL, API, model, concurrency); remote latencies are *client arrival timing* |
| `w` | sweeps: batch × length × precision (or configurations, or server concurrency) grids in the store, each cell's p50/p95/p99, TTFT, tokens/s and the throughput knee; `n` there starts one |
| `ctrl+t` | estimate memory and latency floors of a model on a GPU |
| `ctrl+p` | command palette: run, stop, connect, export, fit, compare, detail, delete, sweeps, estimate, theme |
| `F1` / `?` | this help |
| `q` / `ctrl+q` | quit; while a run is active, asks: stop it, or leave it running in the background |
| `ctrl+c` | stop any run, save it as *interrupted*, and quit |

Runs happen in a separate engine process: if the terminal goes away (a dropped SSH link), the app
exits and the run goes on to its end, stored *finished* (`--on-hangup stop` stores it
*interrupted* instead). Any session still running in the store, from another app or a
`tokenlat-tui collect` in another shell, is shown live; `escape` asks its process to stop.

**breakdown** (run settings, as `collect --breakdown`): after the timed runs, one more generation under
torch.profiler; the timed sessions stay as without it. A session's detail shows ms per decode token by
operator class (attention, MLP, norms, ...); the profiled step is slower than the timed one, and says by how much.

**TTFT** is the first token: prompt processing plus the first sampled token. The live chart shows
decode steps (token 2 onward) on a ms scale, one column = the slowest token it covers, so spikes stay visible.

**Sessions table**: id, status, model, prompt, tokens, then TTFT and decode p50/p95/p99 in ms and
tokens/s (tok/s everywhere is the decode rate, 1000 / mean decode ms, TTFT excluded); figures are
never cut. Where the panel is narrow (80 columns) columns leave in this order:
{", ".join(dropped_at_narrow_widths())} (the id stays); `tokenlat-tui sessions --wide` lists every
column. Where its column has no room, `*` marks a remote session ({ARRIVAL_LABEL}) and `w` a warm-up
(left out of statistics). The sort column's header shows ▼ (descending) or ▲.

Press `escape` or `q` to close.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)
