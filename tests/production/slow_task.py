"""A task for the shutdown tests: marks its start, works for a while, marks its end."""

import time
from pathlib import Path


def slow_marker(folder: str, seconds: float) -> str:
    Path(folder, "started").write_text("started")
    time.sleep(seconds)
    Path(folder, "finished").write_text("finished")
    return "done"
