"""A real terminal for tests: a private tmux server running `python -m tui`, read back as text.

Each `Terminal` has its own tmux socket (never the user's server). Killing that server is how a
test hangs up on the app: tmux sends SIGHUP to the pane's processes, as a dropped SSH link would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")
LOAD_TIMEOUT_S = 120  # importing torch and building the model on a busy 2-core box


class Terminal:
    def __init__(self, name: str, data_dir: Path, cwd: Path) -> None:
        self.socket = f"tokenlat-{name}-{os.getpid()}"
        self.data_dir = data_dir
        self.cwd = cwd

    def tmux(self, *args: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", *args], check=True, capture_output=True,
                              text=True).stdout

    def start_app(self, *flags: str, env: str = "", omp_threads: int | None = 1) -> None:
        """`omp_threads=None`: OMP_NUM_THREADS unset, so torch picks its default thread count."""
        python_path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        threads = f"OMP_NUM_THREADS={omp_threads}" if omp_threads is not None else ""
        unset = "-u OMP_NUM_THREADS" if omp_threads is None else ""
        # -u COLUMNS/LINES: pytest exports 80x24 there, and Textual would believe it over the real terminal
        command = (f"cd {self.cwd} && env -u COLUMNS -u LINES {unset} TOKENLAT_DATA_DIR={self.data_dir} {env} "
                   f"PYTHONPATH={python_path} HF_HUB_OFFLINE=1 {threads} TERM=xterm-256color "
                   f"{sys.executable} -m tui {' '.join(flags)}; echo EXITED $?; sleep 60")
        self.tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "36", command)
        self.tmux("resize-window", "-t", "app", "-x", "120", "-y", "36")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def wait_for(self, predicate, timeout: float = 60.0, poll_s: float = 0.2) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(poll_s)
        raise AssertionError(f"timed out; the screen was:\n{screen}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "app", *(["-l"] if literal else []), *keys)

    def app_process(self) -> psutil.Process:
        """The `python -m tui` process: the child of the pane's shell."""
        shell = psutil.Process(int(self.tmux("display", "-p", "-t", "app", "#{pane_pid}").strip()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for child in shell.children():
                if "tui" in child.cmdline():
                    return child
            time.sleep(0.1)
        raise AssertionError("the app process did not start")

    def wait_loaded(self) -> str:
        return self.wait_for(lambda s: "random weights" in s, timeout=LOAD_TIMEOUT_S)

    def replace_field(self, value: str) -> None:
        """Replace the value of the focused input; one step at a time, each given time to land."""
        self.keys("End", *["BSpace"] * 8)
        time.sleep(0.4)
        self.keys(value, literal=True)
        time.sleep(0.4)

    def start_run(self, prompt: str, max_new_tokens: int, warmup: int = 0) -> None:
        """Type a prompt, set max new tokens and warm-up runs, ctrl+r (which works from any field)."""
        self.keys("p")  # focus starts on the sessions table: p moves it into the prompt
        time.sleep(0.4)
        self.keys(prompt, literal=True)
        self.wait_for(lambda s: prompt in s)
        self.keys("Tab")  # -> max new tokens
        time.sleep(0.4)
        self.replace_field(str(max_new_tokens))
        self.wait_for(lambda s: f" {max_new_tokens} " in s)
        for _ in range(3):  # -> temperature, top-p, warm-up runs
            self.keys("Tab")
            time.sleep(0.3)
        self.replace_field(str(warmup))
        self.keys("C-r")

    def kill_server(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)


def shown_tokens(screen: str) -> int | None:
    """The live panel's token count ("tokens 123/3000")."""
    match = re.search(r"tokens (\d+)", screen)
    return int(match.group(1)) if match else None


def has_exited(process: psutil.Process) -> bool:
    """Exited, reaped or not: a dead process whose parent (the killed pane's shell) is gone stays a
    zombie until init reaps it, which can take seconds here and is not the app's doing."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(process: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if has_exited(process):
            return True
        time.sleep(0.01)
    return has_exited(process)


def engines_of(data_dir: Path) -> list[psutil.Process]:
    """Engine processes serving this data dir (they name it on their command line)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "profiler.engine" in cmdline and str(data_dir) in cmdline:
            found.append(process)
    return found
