"""Waiting for an app's background work in pilot tests."""

from __future__ import annotations

from textual.worker import WorkerCancelled


async def wait_workers(pilot) -> None:
    """Every worker done; a fit replaced by a newer one (fits are exclusive workers) counts as done,
    where `workers.wait_for_complete()` alone would raise WorkerCancelled for it."""
    for _ in range(10):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            await pilot.pause()
    await pilot.pause()
