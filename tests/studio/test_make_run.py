"""`make run` stops on Ctrl-C: every process it started ends, and none needs a SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from tests.live_stack import ARTIFACTS, ROOT, free_port, wait_until
from tests.processes import alive, descendants


def test_ctrl_c_stops_web_worker_and_simulator_without_sigkill(tmp_path):
    var = tmp_path / "var"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STUDIO_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
        and not key.endswith("_API_KEY")
    }
    env.update(
        STUDIO_VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}",
        MEDIA_ROOT=str(var / "media"),
        PORT=str(free_port()),
        SIMULATOR_PORT=str(free_port()),
        STUDIO_Q_WORKERS="2",
        STUDIO_DEMO_PASSWORD="demo-password-for-tests",
        STUDIO_ADMIN_PASSWORD="admin-password-for-tests",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "make-run-ctrl-c.log"
    with log_path.open("w") as log:
        # A terminal's Ctrl-C is a SIGINT to the foreground process group: `make run` leads one.
        launch = subprocess.Popen(
            [sys.executable, "-m", "studio.launch"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: set[int] = set()
    try:
        wait_until(
            lambda: "Studio is running at" in log_path.read_text() or launch.poll() is not None,
            timeout=180,
            what="make run to start",
        )
        assert launch.poll() is None, log_path.read_text()[-3000:]
        # Every worker process of the cluster has started once the cluster says it runs.
        wait_until(
            lambda: "] running." in log_path.read_text(), timeout=60, what="the cluster to run"
        )
        started = descendants(launch.pid)
        assert len(started) >= 8  # honcho, three shells, gunicorn, the cluster and its workers

        began = time.monotonic()
        os.killpg(launch.pid, signal.SIGINT)
        assert launch.wait(timeout=60) is not None
        took = time.monotonic() - began

        wait_until(
            lambda: not any(alive(pid) for pid in started),
            timeout=10,
            what="every process make run started to end",
        )
        log = log_path.read_text()
        assert "SIGKILL" not in log, log[-3000:]
        assert "has stopped." in log  # the cluster stopped itself, workers included
        assert took < 30
    finally:
        for pid in {launch.pid, *started}:
            with contextlib.suppress(ProcessLookupError):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            launch.wait(timeout=10)
