"""The `worker` process of `make run`: a django-q2 cluster that stops cleanly when asked.

A process manager such as honcho stops a process by sending SIGTERM to its whole process group.
django-q2's cluster does not survive that: its sentinel process keeps the default SIGTERM action
and dies at once, and the cluster's main process then waits for it forever, so the manager ends
up sending SIGKILL. This wrapper keeps the cluster in a session of its own and passes a stop on
as one SIGTERM to the cluster's main process only, which is the stop django-q2 handles well:
it takes no new task, lets every worker finish the task in hand (bounded by the cluster's
timeout) and exits. The wrapper then exits with the cluster's exit status.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, start_new_session=True
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        if cluster.poll() is None:
            cluster.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    return cluster.wait()


if __name__ == "__main__":
    sys.exit(main())
