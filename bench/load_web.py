"""Load test: gallery, create page and status fragment under 16 concurrent users, on gunicorn.

Each page is measured against a trivial view served by the same gunicorn server behind the same
session and login middleware (bench/load_urls.py), so the figures say what the page itself
costs. wrk drives the load (Debian: `apt-get install wrk`): 16 connections, each a signed-in
person (one shared account with a full gallery), for a bounded time and a bounded number of
requests. Everything stays on 127.0.0.1 and every process started here is stopped.

    .venv/bin/python bench/load_web.py [--seconds 5] [--rounds 3] [--connections 16]

Pages take turns for --rounds rounds of --seconds each; the figures are medians over rounds.
Prints a Markdown table (for docs/performance.md) and writes bench/out/load_web.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LUA = ROOT / "bench" / "load_web.lua"
TARGETS = {
    # name: (path, send HX-Request)
    "trivial view": ("/bench/trivial/", False),
    "gallery": ("/gallery/", False),
    "create page": ("/", False),
    "status fragment": ("/generations/{running}/", True),
}
P95_TARGET_MS = 100.0
GALLERY_SHARE_TARGET = 1 / 3


def _seed(count: int) -> None:
    """Runs in a child process with the bench settings: a person, a full gallery, a session."""
    import django

    django.setup()
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from generations.models import Generation
    from tests.factories import make_user

    user = make_user(username="bench", credits=1000)
    now = timezone.now()
    rows = []
    for index in range(count):
        running = index == count - 1
        rows.append(
            Generation(
                owner=user,
                model_key="wan2.6-i2v-flash",
                provider="modelstream",
                prompt=f"A lighthouse beam sweeping over a calm sea, take {index}",
                resolution="720p",
                duration=5,
                seed=index,
                cost=5,
                state=Generation.State.RUNNING if running else Generation.State.SUCCEEDED,
                progress=40 if running else 100,
                provider_task_id=f"task-{index}",
                deadline_at=now + timedelta(days=1),
                video="" if running else f"results/bench/{index}.mp4",
                poster="" if running else f"results/bench/{index}.jpg",
                video_duration=None if running else 5.0,
            )
        )
    Generation.objects.bulk_create(rows, batch_size=500)
    running_id = Generation.objects.get(owner=user, state=Generation.State.RUNNING).id
    client = Client()
    client.force_login(user)
    print(json.dumps({"cookie": client.cookies["sessionid"].value, "running": str(running_id)}))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited before it answered; see bench/out/load_web.log")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer in time")


def _wrk(url: str, *, seconds: float, connections: int, env: dict[str, str]) -> dict:
    threads = min(2, connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url,
    ]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {result.stdout}{result.stderr}")
    line = [line for line in result.stdout.splitlines() if line.startswith("{")][-1]
    figures = json.loads(line)
    figures["rps"] = round(figures["requests"] / figures["seconds"], 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per page and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=16, help="concurrent users")
    parser.add_argument("--generations", type=int, default=2000, help="rows in the gallery")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per wrk thread")
    parser.add_argument("--web-workers", type=int, default=0, help="gunicorn processes")
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is not None:
        _seed(args.seed)
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="studio-load-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.load_settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STUDIO_VAR_DIR": str(work),
            "STUDIO_LOG_FORMAT": "plain",
            "PYTHONPATH": str(ROOT),
        }
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (OUT / "load_web.log").open("w")
    server = None
    try:
        for step in (["migrate", "--noinput", "-v", "0"], ["createcachetable"]):
            subprocess.run([sys.executable, "manage.py", *step], cwd=ROOT, env=env, check=True)
        seeded = subprocess.run(
            [sys.executable, __file__, "--seed", str(args.generations)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(seeded.stdout.strip().splitlines()[-1])
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "studio.wsgi",
            "--config",
            "studio/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
        ]
        if args.web_workers:
            command += ["--workers", str(args.web_workers)]
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait_ready(base + "/healthz", server)
        wrk_env = {
            **os.environ,
            "BENCH_COOKIE": f"sessionid={data['cookie']}",
            "BENCH_MAX_REQUESTS_PER_THREAD": str(args.max_requests),
        }
        rounds: dict[str, list[dict]] = {name: [] for name in TARGETS}
        # Pages take turns, round after round, so a burst of load from elsewhere on the
        # machine hits them all alike; each figure is the median over the rounds.
        for round_number in range(1, args.rounds + 1):
            for name, (path, htmx) in TARGETS.items():
                url = base + path.format(running=data["running"])
                target_env = {**wrk_env, "BENCH_HTMX": "1" if htmx else "0"}
                probe = urllib.request.Request(url, headers={"Cookie": wrk_env["BENCH_COOKIE"]})
                with urllib.request.urlopen(probe, timeout=10) as response:
                    assert response.status == 200, (name, response.status)
                if args.warmup:
                    _wrk(url, seconds=args.warmup, connections=args.connections, env=target_env)
                figures = _wrk(
                    url, seconds=args.seconds, connections=args.connections, env=target_env
                )
                rounds[name].append(figures)
                print(f"round {round_number} {name}: {figures}", flush=True)
        results = {
            name: {
                key: statistics.median(run[key] for run in runs)
                for key in runs[0]
                if isinstance(runs[0][key], int | float)
            }
            for name, runs in rounds.items()
        }
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)

    trivial = results["trivial view"]["rps"]
    report = {
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "generations": args.generations,
        "cores": os.cpu_count(),
        "results": results,
        "gallery_share_of_trivial": round(results["gallery"]["rps"] / trivial, 3),
    }
    (OUT / "load_web.json").write_text(json.dumps(report, indent=2))
    print()
    print("| page | requests/s | share of trivial | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, figures in results.items():
        errors = figures["errors_status"] + figures["errors_other"]
        print(
            f"| {name} | {figures['rps']:.0f} | {figures['rps'] / trivial:.2f} | "
            f"{figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} | {figures['p99_ms']:.1f} | "
            f"{errors} |"
        )
    slow = [n for n, f in results.items() if f["p95_ms"] >= P95_TARGET_MS]
    print()
    print(f"p95 under {P95_TARGET_MS:.0f} ms: {'yes' if not slow else 'no: ' + ', '.join(slow)}")
    share = report["gallery_share_of_trivial"]
    print(f"gallery throughput {share:.2f} of the trivial view's (target ≥ 0.33)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
