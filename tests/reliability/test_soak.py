"""The soak's short form: about two minutes of generations with random provider faults while
the worker cluster is SIGKILLed and restarted every few seconds (bench/soak.py; the long form
and its figures are in docs/reliability.md).

It runs its own stack (simulator, gunicorn, qcluster) on its own SQLite database and media
folder, so what it checks — every file in storage, every wallet — is its own, and it stops
every process it started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_a_short_soak_under_faults_and_killed_workers_keeps_every_promise(tmp_path):
    report = tmp_path / "soak.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--generations", "80",
            "--rate", "1",
            "--kill-every", "2:8",
            "--deadline", "180",
            "--max-seconds", "170",
            "--json", str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(report.read_text())
    summary = run.stdout[-2000:]

    assert result["created"] == 80, summary
    assert result["kills"] >= 5, summary  # the cluster really was killed, again and again
    assert result["with_fault"] > 0, summary
    assert result["not_final"] == [], summary
    assert result["ledger_problems"] == [], summary
    assert result["duplicate_submits"] == 0, summary
    assert result["videos_lost"] == [], summary
    assert result["videos_checked"] > 0, summary
    assert result["orphan_files"] == [] and result["dangling_names"] == [], summary
    # Lost between studio and provider: counted apart, each one failed and refunded (the
    # ledger check above covers the refund).
    lost = result["lost_between_studio_and_provider"]
    assert lost == sum(result["lost_by_cause"].values())
    assert result["error_kinds"].get("failed/lost", 0) == lost
    assert result["ok"] and run.returncode == 0, summary
