"""Regenerate screenshots/*.svg from a real run on the embedded model (random weights).

    python scripts/make_screenshots.py [--out screenshots] [--force]

Uses a throwaway store, runs a few prompts in a headless app at 120x36, and saves: the main
screen mid-run, the sessions table, the prediction panel, the help screen, the longest session in
detail (chart, histogram, then its spike list), and a run of
`tokenlat-tui collect` in another process followed live (attached) by the app. Each file goes through
the project's one writer (`profiler.export_target.write_file`): an existing screenshot is replaced only
with --force, and never a link, device or FIFO.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPTS = ["Summarise the roofline model in two sentences.",
           "Why does the KV cache make each decode step cheaper than re-reading the whole prompt? " * 3,
           "List three reasons a GPU throttles during a long benchmark. " * 6]


def save(app, out: Path, name: str, force: bool) -> None:
    """The app's screen as SVG, written through the one writer (temp file beside, then renamed)."""
    from profiler.export_target import write_file

    write_file(out / name, app.export_screenshot(), force=force, hint="give another --out folder")


async def main(out: Path, force: bool = False) -> None:
    from textual.widgets import Input, TextArea

    from profiler.backends import BackendOptions, load_backend
    from profiler.store import SessionStore
    from tui.app import make_app
    from tui.widgets.prediction_panel import SIDE_BY_SIDE, available_predictors
    from tui.widgets.sessions_table import SessionsTable

    out.mkdir(parents=True, exist_ok=True)
    backend = load_backend(BackendOptions())
    data_dir = tempfile.mkdtemp(prefix="tokenlat-shots-")
    app = make_app(store=SessionStore(data_dir), backend=backend)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.main
        for text_area in app.query(TextArea):
            text_area.cursor_blink = False
        screen.query_one("#warmup", Input).value = "0"
        for prompt in PROMPTS:
            screen.query_one("#prompt", TextArea).text = prompt
            screen.query_one("#max-new-tokens", Input).value = "200"
            await run_and_wait(pilot)
        # mid-run: a long generation, captured while tokens are still streaming in
        screen.query_one("#prompt", TextArea).text = "Explain how attention cost grows with context length."
        screen.query_one("#max-new-tokens", Input).value = "1500"
        await pilot.press("ctrl+r")
        while screen.live is None or len(screen.live.records) < 300:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        save(app, out, "main-mid-run.svg", force)
        await pilot.press("escape")
        while screen.running:
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()

        screen.query_one(SessionsTable).focus()
        await pilot.pause()
        save(app, out, "sessions-table.svg", force)

        # every predictor model/ offers, side by side (just the seed Ridge when model/ has no others)
        screen.query_one("#predictor").value = SIDE_BY_SIDE if len(available_predictors()) > 1 else "ridge"
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen.query_one("#horizon", Input).focus()
        await pilot.pause()
        save(app, out, "prediction-panel.svg", force)

        await pilot.press("f1")
        await pilot.pause()
        save(app, out, "help-screen.svg", force)
        await pilot.press("escape")

        # the longest session in detail (enter/v): whole-run chart and histogram, then its spike list
        table = screen.query_one(SessionsTable)
        longest = max(app.store.list_sessions(), key=lambda s: s["tokens"] or 0)
        table.focus()
        table.highlight(longest["id"])
        await pilot.press("v")
        await pilot.pause()
        save(app, out, "session-detail.svg", force)
        app.screen.query_one("#detail-spikes").scroll_visible(top=True, animate=False)
        await pilot.pause()
        save(app, out, "spike-list.svg", force)
        await pilot.press("escape")

        # compare: the two oldest sessions marked with space, then c (the earliest is the baseline)
        table = screen.query_one(SessionsTable)
        table.focus()
        for session in sorted(app.store.list_sessions(), key=lambda s: s["started"])[:2]:
            table.highlight(session["id"])
            await pilot.press("space")
        await pilot.press("c")
        while getattr(app.screen, "loaded", None) is None:  # the bootstrap runs in a worker
            await pilot.pause(0.05)
        await pilot.pause()
        save(app, out, "compare.svg", force)
        await pilot.press("escape")
        for session_id in list(table.marked):  # unmarked again: the attached shot shows a plain table
            table.highlight(session_id)
            await pilot.press("space")

        # attached: `collect` runs in another process; the app follows its session through the store
        root = Path(__file__).resolve().parent.parent
        env = dict(os.environ, PYTHONPATH=str(root), TOKENLAT_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1")
        collect = subprocess.Popen([sys.executable, "-m", "tui", "collect", "Started in another shell",
                                    "--max-new-tokens", "1500", "--ignore-eos", "--warmup", "0"], cwd=root, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            store = app.store
            while not (running := [s for s in store.list_sessions() if s["status"] == "running"
                                   and s["tokens"] >= 300]):
                await pilot.pause(0.1)
            screen.reload_sessions()
            table = screen.query_one(SessionsTable)
            table.focus()
            table.highlight(running[0]["id"])  # a running session under the cursor is followed live
            while screen.controller.follower is None or len(screen.controller.follower.records) < 400:
                await pilot.pause(0.05)
            await pilot.pause(0.3)
            save(app, out, "attached-run.svg", force)
            await pilot.press("escape")  # asks collect to stop: its session ends interrupted
            collect.wait(60)
        finally:
            if collect.poll() is None:
                collect.kill()
    print(f"wrote {', '.join(sorted(p.name for p in out.glob('*.svg')))} to {out}")


async def run_and_wait(pilot) -> None:
    screen = pilot.app.main
    await pilot.press("ctrl+r")
    while not screen.running:
        await pilot.pause(0.02)
    while screen.running:
        await pilot.pause(0.05)
    await pilot.pause()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots")
    parser.add_argument("--force", action="store_true", help="replace screenshots already in --out")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.out, arguments.force))
