"""Submit latency: from the create form's POST to the provider receiving the request.

    .venv/bin/python bench/bench_submit.py [--submits 40] [--pause 0.3] [--brokers orm,redis]

For each broker, on 127.0.0.1 in a temporary folder: the studio on gunicorn
(studio/gunicorn.conf.py, 2 processes) and a real `qcluster` (4 workers, the default), the
simulator in this process (fast mode; renders memoized and the reference answered from memory,
see bench_tracker.load_simulator) noting the moment each submit reaches it. One signed-in
person posts the create form (ModelStream, a 640×360 PNG uploaded with it), one submit at a
time, `--pause` seconds apart, after two that warm up. The figure per submit: from just before
the POST is sent to the simulator receiving the provider request (keyed by its
Idempotency-Key, the generation's id); beside it, how long the POST itself took to answer.

- `orm`: the embedded default (SQLite, the django-q2 ORM broker, the database cache).
- `redis`: the same SQLite database, with `REDIS_URL` pointing at a `redis-server` started here
  on a free port (no persistence) and stopped afterwards: django-q2's Redis broker and the
  Redis cache.

Targets (issue 6): 0.5 s at the median on the ORM broker, 0.1 s on Redis. Prints a Markdown
table for docs/performance.md and writes bench/out/bench_submit.json. Every process started
here is stopped, by its id.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
TARGETS = {"orm": 0.5, "redis": 0.1}

from bench.bench_tracker import _free_port, _percentile, _stop, load_simulator  # noqa: E402


def _seed() -> None:
    """In a child process with the bench's settings: a person with credits, signed in."""
    import django

    django.setup()
    from django.test import Client

    from tests.factories import make_user

    user = make_user(username="bench-submit", credits=100_000)
    client = Client()
    client.force_login(user)
    print(json.dumps({"cookie": client.cookies["sessionid"].value}))


def _png() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (640, 360), (40, 120, 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _wait_http(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited early; see bench/out/")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer in time")


def _wait_log(path: Path, marker: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and marker in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit(f"{path.name} never said {marker!r}")


def run(broker: str, args, received: dict, sim_url: str) -> dict:
    import httpx

    work = Path(tempfile.mkdtemp(prefix=f"studio-bench-submit-{broker}-"))
    web_port = _free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "studio.settings.base",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STUDIO_VAR_DIR": str(work),
            "MEDIA_ROOT": str(work / "media"),
            "STUDIO_LOG_FORMAT": "plain",
            "PYTHONPATH": str(ROOT),
            "STUDIO_PUBLIC_URL": base,
            "MODELSTREAM_API_BASE": sim_url,
            "APIFRAME_API_BASE": sim_url,
            "MODELSTREAM_API_KEY": "bench-modelstream-key",
            "APIFRAME_API_KEY": "bench-apiframe-key",
            "STUDIO_FETCH_ALLOWED_HOSTS": "127.0.0.1",
            "STUDIO_SUBMIT_RATE": "0",
            "STUDIO_MAX_IN_FLIGHT_PER_USER": "0",
            "WEB_CONCURRENCY": "2",
            "PORT": str(web_port),
        }
    )
    processes: list[subprocess.Popen] = []
    logs = []
    try:
        if broker == "redis":
            if shutil.which("redis-server") is None:
                raise SystemExit("redis-server is needed for --brokers redis")
            redis_port = _free_port()
            redis = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            processes.append(redis)
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("redis-server did not start") from None
                    time.sleep(0.1)
        for step in (["migrate", "--noinput", "-v", "0"], ["createcachetable"]):
            subprocess.run([sys.executable, "manage.py", *step], cwd=ROOT, env=env, check=True)
        seeded = subprocess.run(
            [sys.executable, __file__, "--seed"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cookie = json.loads(seeded.stdout.strip().splitlines()[-1])["cookie"]
        for name, command in (
            (
                "web",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "studio.wsgi",
                    "--config",
                    "studio/gunicorn.conf.py",
                ],
            ),
            ("cluster", [sys.executable, "manage.py", "qcluster"]),
        ):
            log = OUT / f"bench_submit_{broker}_{name}.log"
            logs.append(log)
            with log.open("w") as handle:
                processes.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=env,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_http(base + "/healthz", processes[-2], "gunicorn")
        _wait_log(logs[-1], " running.")

        image = _png()
        latencies, answered = [], []
        with httpx.Client(base_url=base, timeout=30, cookies={"sessionid": cookie}) as client:
            page = client.get("/")
            assert page.status_code == 200, page.status_code
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            for index in range(args.submits + 2):
                fields = {
                    "csrfmiddlewaretoken": token,
                    "model": "wan2.6-i2v-flash",
                    "prompt": f"A lighthouse at dusk, take {index}",
                    "resolution": "720P",
                    "duration": "2",
                }
                started = time.time()
                response = client.post(
                    "/",
                    data=fields,
                    files={"img_url": ("ref.png", image, "image/png")},
                    headers={"Referer": base + "/"},
                )
                took = time.time() - started
                assert response.status_code == 303, (response.status_code, response.text[:500])
                generation_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
                event = received.setdefault(generation_id, threading.Event())
                if not event.wait(30):
                    raise SystemExit(f"the provider never received {generation_id}")
                if index >= 2:  # the first two warm the processes up
                    latencies.append(event.at - started)  # type: ignore[attr-defined]
                    answered.append(took)
                time.sleep(args.pause)
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "broker": broker,
        "submits": len(latencies),
        "to_provider_s": {
            "p50": round(statistics.median(latencies), 3),
            "p95": round(_percentile(latencies, 0.95), 3),
            "max": round(max(latencies), 3),
            "min": round(min(latencies), 3),
        },
        "post_answered_s": {"p50": round(statistics.median(answered), 3)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submits", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between submits")
    parser.add_argument("--brokers", default="orm,redis")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        _seed()
        return 0
    OUT.mkdir(parents=True, exist_ok=True)

    # The simulator in this process notes when each submit reaches it.
    from simulator import server

    received: dict[str, threading.Event] = {}
    lock = threading.Lock()
    submit = server.Simulator.submit

    def noting(self, provider, body, faults, prompt_faults, idempotency_key, api_key):
        at = time.time()
        with lock:
            event = received.setdefault(idempotency_key or "", threading.Event())
        if not event.is_set():
            event.at = at  # type: ignore[attr-defined]
            event.set()
        return submit(self, provider, body, faults, prompt_faults, idempotency_key, api_key)

    server.Simulator.submit = noting
    sim_port = _free_port()
    simulator = load_simulator(sim_port, "")
    results = []
    try:
        for broker in [b.strip() for b in args.brokers.split(",") if b.strip()]:
            results.append(run(broker, args, received, f"http://127.0.0.1:{sim_port}"))
            print(json.dumps(results[-1]), flush=True)
    finally:
        simulator.shutdown()
    (OUT / "bench_submit.json").write_text(json.dumps(results, indent=2))
    print()
    print(
        "| broker | submits | form POST → provider p50 | p95 | max | POST answered p50 | target |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        lag = result["to_provider_s"]
        target = TARGETS.get(result["broker"])
        print(
            f"| {result['broker']} | {result['submits']} | {lag['p50'] * 1000:.0f} ms | "
            f"{lag['p95'] * 1000:.0f} ms | {lag['max'] * 1000:.0f} ms | "
            f"{result['post_answered_s']['p50'] * 1000:.0f} ms | "
            f"{'—' if target is None else f'{target * 1000:.0f} ms'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
