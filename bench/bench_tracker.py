"""Tracking at scale: 1,000 generations in flight, every status read answered after 100 ms.

    .venv/bin/python bench/bench_tracker.py [--generations 1000] [--latency 0.1]
        [--spread 40] [--sweeps 3] [--one-at-a-time] [--json]

Everything runs on 127.0.0.1 in a temporary folder (SQLite and the database cache, as `make run`
has them; or the database `DATABASE_URL` names, and Redis for the broker with `REDIS_URL`):

- **the simulator** in fast mode, in its own process, with `read.latency` set to `--latency`.
  So that the machine's cores go to the studio, not to making videos, its renders are memoized
  (identical requests give identical bytes anyway) and the reference image it would fetch is
  answered from memory (`load_simulator`). Jobs are created straight at the simulator with the studio's own
  provider clients and recorded as `queued` generations, half ModelStream, half Apiframe.
- **sweep**: every one of the generations is due at once and one tracker tick (the code the
  tracker runs, `tracker_tick`) reads them all over the pooled client with
  `STUDIO_TRACKER_CONCURRENCY` reads in flight, applying each answer. Timed `--sweeps` times,
  and once one read at a time with `--one-at-a-time`.
- **visible**: fresh jobs that become ready spread over `--spread` seconds (each job's
  `run_seconds`, so the moment it is ready is known), a real `qcluster` tracking and storing
  them (download through the guarded fetcher, PyAV probe, poster). For each generation: how long
  after its job was ready the studio had it `succeeded` (`finished_at`). With
  `--one-at-a-time` the same again with `STUDIO_TRACKER_CONCURRENCY=1`.

Targets (issue 6): a sweep within 4 s; every result visible within 5 s at p95. Prints a
Markdown table for docs/performance.md and writes bench/out/bench_tracker.json. Every process
started here is stopped, by its id.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
SWEEP_TARGET = 4.0
VISIBLE_P95_TARGET = 5.0
MODELS = ("wan2.6-i2v-flash", "wan-2.6-flash")


def _reference_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), (40, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def load_simulator(port: int, faults: str, *, progress: bool = True):
    """The simulator in this process, in fast mode, for load: renders memoized (identical
    requests give identical bytes anyway) and the reference answered from memory, so the
    machine's cores go to the studio. `progress=False`: its answers carry no progress, as a
    provider that reports none. Returns the running server."""
    import threading

    from simulator import server
    from simulator.faults import parse_faults

    if not progress:
        answer = server.task_answer

        def without_progress(*args, **kwargs):
            body = answer(*args, **kwargs)
            body.pop("progress", None)
            return body

        server.task_answer = without_progress

    made: dict = {}
    lock = threading.Lock()
    render = server.render_video
    reference = _reference_png()

    def memoized(image, request, *, progress=None):
        with lock:
            video = made.get(request)
            if video is None:
                video = made[request] = render(image, request)
        if progress is not None:
            progress(100)
        return video

    server.render_video = memoized
    server.Simulator.fetch = lambda self, url: reference
    config = server.Config(
        fast=True,
        loopback_only=True,
        queue_seconds=0.0,
        render_workers=2,
        faults=parse_faults(faults),
    )
    return server.serve("127.0.0.1", port, config)


def _run_simulator(port: int, latency: float, progress: bool) -> None:
    """`--simulator PORT`: the load simulator in its own process, until SIGTERM."""
    import threading

    httpd = load_simulator(port, f"read.latency={latency}", progress=progress)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"simulator ready on {port}", flush=True)
    stopped.wait()
    httpd.shutdown()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen | None, *, grace: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _summary(values: list[float]) -> dict:
    if not values:
        return {}
    return {
        "p50": round(statistics.median(values), 2),
        "p95": round(_percentile(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


class Bench:
    def __init__(self, args, env: dict[str, str], work: Path):
        self.args = args
        self.env = env
        self.work = work
        self.log = (OUT / "bench_tracker.log").open("w")

    # -- jobs ------------------------------------------------------------------------------

    def make_jobs(self, *, run_seconds: list[float]) -> tuple[list, dict]:
        """One simulator job per entry of `run_seconds`, recorded as a queued generation.

        Returns the generation ids and, for each, the wall-clock time its job is ready.
        """
        from django.utils import timezone

        from accounts.models import User
        from generations.catalog import catalog_get
        from generations.models import Generation
        from generations.providers import provider_client
        from generations.wire import provider_request_build

        owner, _ = User.objects.get_or_create(username="bench-tracker")
        link = "http://127.0.0.1:9/reference.png"  # never fetched: the simulator has it

        def one(index: int):
            model = catalog_get(MODELS[index % 2])
            if model.provider == "modelstream":
                values = {"resolution": "720P", "duration": 2, "prompt_extend": False}
                values |= {"audio": False, "watermark": False}
            else:
                values = {"resolution": "720p", "duration": 5, "audio_enabled": False}
                values |= {"enable_prompt_expansion": False}
            prompt = f"bench {index} sim:run_seconds={run_seconds[index]:.3f}"
            values |= {"prompt": prompt, "seed": 7}
            image = model.field_for_role("reference_image").name
            body = provider_request_build(model=model, values=values, file_links={image: link})
            generation_id = uuid.uuid4()
            before = time.time()
            task = provider_client(model.provider).submit(
                body=body, idempotency_key=str(generation_id)
            )
            after = time.time()
            now = timezone.now()
            row = Generation(
                id=generation_id,
                owner=owner,
                model_key=model.key,
                provider=model.provider,
                state=Generation.State.QUEUED,
                params=values,
                request_body=body,
                prompt=prompt,
                resolution=str(values["resolution"]).lower(),
                duration=values["duration"],
                seed=7,
                provider_task_id=task.task_id,
                submitted_at=now,
                next_poll_at=now,
                deadline_at=now + timedelta(hours=1),
            )
            return row, (before + after) / 2 + run_seconds[index]

        with ThreadPoolExecutor(32) as pool:
            made = list(pool.map(one, range(len(run_seconds))))
        Generation.objects.bulk_create([row for row, _ in made], batch_size=500)
        return [row.id for row, _ in made], {row.id: ready for row, ready in made}

    def reset(self) -> None:
        import httpx

        from generations.models import Generation

        Generation.objects.all().delete()
        httpx.post(self.env["MODELSTREAM_API_BASE"] + "/_sim/reset", timeout=10)

    # -- one sweep -------------------------------------------------------------------------

    def sweep(self, *, concurrency: int, rounds: int) -> list[float]:
        from django.utils import timezone

        from generations.models import Generation
        from generations.tracker import tracker_tick

        count = self.args.generations
        self.make_jobs(run_seconds=[3600.0] * count)  # never ready during the sweep
        times = []
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tracker") as pool:
            for _ in range(rounds):
                Generation.objects.update(next_poll_at=timezone.now())
                started = time.perf_counter()
                if os.environ.get("BENCH_PROFILE"):
                    import cProfile
                    import pstats

                    profile = cProfile.Profile()
                    read = profile.runcall(tracker_tick, pool=pool)
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
                else:
                    read = tracker_tick(pool=pool)
                times.append(time.perf_counter() - started)
                assert read == count, (read, count)
                print(
                    f"sweep of {read} at concurrency {concurrency}: {times[-1]:.2f} s", flush=True
                )
        self.reset()
        return times

    # -- results visible -------------------------------------------------------------------

    def visible(self, *, concurrency: int) -> dict:
        from generations.models import Generation

        count, spread, lead = self.args.generations, self.args.spread, self.args.lead
        run_seconds = [lead + spread * index / count for index in range(count)]
        ids, ready = self.make_jobs(run_seconds=run_seconds)
        env = {**self.env, "STUDIO_TRACKER_CONCURRENCY": str(concurrency)}
        cluster_log = self.work / f"cluster-{concurrency}.log"
        with cluster_log.open("w") as log:
            cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.time() + lead + spread + self.args.timeout
            while time.time() < deadline:
                left = Generation.objects.exclude(state__in=Generation.FINAL_STATES).count()
                if not left:
                    break
                time.sleep(1.0)
        finally:
            _stop(cluster)
        text = cluster_log.read_text(errors="replace")
        shutil.copy(cluster_log, OUT / f"bench_tracker_cluster_{concurrency}.log")
        lags = [float(x) for x in re.findall(r"longest from due to applied ([0-9.]+) s", text)]
        rows = list(
            Generation.objects.filter(pk__in=ids).values_list(
                "id", "state", "finished_at", "provider_done_at"
            )
        )
        states = statistics.multimode([state for _, state, _, _ in rows])
        done = [(gid, at, seen) for gid, state, at, seen in rows if state == "succeeded"]
        lag = [at.timestamp() - ready[gid] for gid, at, _ in done]
        # Where the time goes: until a read saw the job done, then storing it.
        seen_lag = [seen.timestamp() - ready[gid] for gid, _, seen in done]
        store_lag = [(at - seen).total_seconds() for _, at, seen in done]
        figures = {
            "concurrency": concurrency,
            "generations": count,
            "succeeded": len(done),
            "not_succeeded": {
                state: sum(1 for _, s, _, _ in rows if s == state)
                for state in {s for _, s, _, _ in rows}
                if state != "succeeded"
            },
            "most_common_state": states,
            # The tracker's own figure: the longest a read came after its due time.
            "longest_read_lag_s": max(lags) if lags else None,
            "visible_after_ready_s": {
                "p50": round(statistics.median(lag), 2) if lag else None,
                "p95": round(_percentile(lag, 0.95), 2) if lag else None,
                "max": round(max(lag), 2) if lag else None,
                "min": round(min(lag), 2) if lag else None,
            },
            "seen_after_ready_s": _summary(seen_lag),
            "stored_after_seen_s": _summary(store_lag),
        }
        print(json.dumps(figures), flush=True)
        self.reset()
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per status read")
    parser.add_argument("--spread", type=float, default=40.0, help="seconds over which jobs end")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first ends")
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=240.0, help="extra wait for results")
    parser.add_argument("--one-at-a-time", action="store_true", help="also at concurrency 1")
    parser.add_argument("--skip-visible", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the raw figures only")
    parser.add_argument(
        "--without-progress",
        action="store_true",
        help="the simulator reports no progress (the tracker's back-off alone)",
    )
    parser.add_argument("--simulator", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simulator is not None:
        _run_simulator(args.simulator, args.latency, not args.without_progress)
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="studio-bench-tracker-"))
    sim_port = _free_port()
    simulator_url = f"http://127.0.0.1:{sim_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG",)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "studio.settings.base",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STUDIO_VAR_DIR": str(work),
            "MEDIA_ROOT": str(work / "media"),
            "STUDIO_LOG_FORMAT": "plain",
            "PYTHONPATH": str(ROOT),
            "MODELSTREAM_API_BASE": simulator_url,
            "APIFRAME_API_BASE": simulator_url,
            "MODELSTREAM_API_KEY": "bench-modelstream-key",
            "APIFRAME_API_KEY": "bench-apiframe-key",
            "STUDIO_FETCH_ALLOWED_HOSTS": "127.0.0.1",
            "STUDIO_MAX_IN_FLIGHT_PER_USER": "0",
        }
    )
    os.environ.update(env)
    simulator = None
    report: dict = {
        "generations": args.generations,
        "latency_s": args.latency,
        "progress_reported": not args.without_progress,
    }
    try:
        for step in (["migrate", "--noinput", "-v", "0"], ["createcachetable"]):
            subprocess.run([sys.executable, "manage.py", *step], cwd=ROOT, env=env, check=True)
        command = [sys.executable, __file__, "--simulator", str(sim_port)]
        command += ["--latency", str(args.latency)]
        if args.without_progress:
            command.append("--without-progress")
        simulator = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert "ready" in (simulator.stdout.readline() if simulator.stdout else "")

        import django

        django.setup()
        from django.conf import settings

        bench = Bench(args, env, work)
        concurrency = settings.STUDIO_TRACKER_CONCURRENCY
        report["concurrency"] = concurrency
        report["database"] = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        report["sweep_s"] = [
            round(t, 2) for t in bench.sweep(concurrency=concurrency, rounds=args.sweeps)
        ]
        if args.one_at_a_time:
            report["sweep_one_at_a_time_s"] = round(bench.sweep(concurrency=1, rounds=1)[0], 2)
        if not args.skip_visible:
            report["visible"] = bench.visible(concurrency=concurrency)
            if args.one_at_a_time:
                report["visible_one_at_a_time"] = bench.visible(concurrency=1)
    finally:
        _stop(simulator)
        shutil.rmtree(work, ignore_errors=True)

    (OUT / "bench_tracker.json").write_text(json.dumps(report, indent=2, default=str))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print()
    print(f"{args.generations} generations in flight, {args.latency * 1000:.0f} ms per status read")
    print()
    print("| run | reads in flight | one full sweep | visible after ready p50 | p95 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    runs = [
        ("concurrent", report["concurrency"], median_of(report["sweep_s"]), report.get("visible"))
    ]
    if args.one_at_a_time:
        runs.append(
            (
                "one at a time",
                1,
                report["sweep_one_at_a_time_s"],
                report.get("visible_one_at_a_time"),
            )
        )
    for name, width, sweep, visible in runs:
        lag = (visible or {}).get("visible_after_ready_s", {})
        print(
            f"| {name} | {width} | {sweep:.2f} s | {fmt(lag.get('p50'))} | {fmt(lag.get('p95'))} "
            f"| {fmt(lag.get('max'))} |"
        )
    print()
    sweep_ok = median_of(report["sweep_s"]) <= SWEEP_TARGET
    lag95 = (report.get("visible") or {}).get("visible_after_ready_s", {}).get("p95")
    print(f"sweep within {SWEEP_TARGET:.0f} s: {'yes' if sweep_ok else 'no'}")
    if lag95 is not None:
        ok = lag95 <= VISIBLE_P95_TARGET
        print(f"visible within {VISIBLE_P95_TARGET:.0f} s at p95: {'yes' if ok else 'no'}")
    return 0


def median_of(values: list[float]) -> float:
    return statistics.median(values)


def fmt(value) -> str:
    return "—" if value is None else f"{value:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
