"""A progress bar for long replays, shown only on a terminal."""

from __future__ import annotations

import os
from typing import BinaryIO

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from churnwatch.streams.replay.driver import ReplayDriver, ReplaySummary

__all__ = ["replay_with_progress"]


def replay_with_progress(driver: ReplayDriver, handle: BinaryIO, name: str) -> ReplaySummary:
    size = os.fstat(handle.fileno()).st_size
    with Progress(
        TextColumn("[bold]replay[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(name, total=size or None)
        return driver.run(
            handle, source=name, progress=lambda _n: bar.update(task, completed=handle.tell())
        )
