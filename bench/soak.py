"""Soak: generations with random provider faults while the worker cluster is killed at random.

Starts its own stack on loopback — the simulator in fast mode, gunicorn (the simulator fetches
reference images from the studio's signed links), and a real `qcluster` — on a fresh SQLite
database and media folder. It creates `--generations` generations through the studio's
services (a share of them carrying a random fault as a `sim:` prompt marker, see
docs/simulator.md) while SIGKILLing the qcluster's whole process group every few seconds at
random and starting it again. Then it lets the cluster run undisturbed until every generation
is final, runs the hourly clean-up, and checks:

- every generation is final;
- every wallet's balance is the sum of its ledger entries; each generation is charged once,
  refunded once if it ended without a video and never otherwise;
- the simulator counted no duplicate submit;
- no video lost: every succeeded generation's video and poster are in storage and decode;
- generations lost between the studio and the provider (failed, error kind `lost`), counted
  apart — each failed and refunded;
- no file in storage that no row references (unused uploads and references shared by many
  generations included), and no row naming a file storage lacks.

    .venv/bin/python bench/soak.py --generations 300            # the long form (docs/reliability.md)
    .venv/bin/python bench/soak.py --generations 40 --kill-phase 45  # about two minutes

Prints a summary and writes JSON (`--json`, default bench/out/soak.json). Exits 1 when a check
fails. Every process it starts is stopped, by its process group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the studio's packages
OUT = ROOT / "bench" / "out"

# One marker per faulty generation, drawn at random: each ends in bounded time (the
# never-ending faults, `never` and `stall` forever, need a deadline to end and are covered by
# the fault matrix). The timeouts fire after the studio's read timeout (set below to 3 s).
FAULTS = [
    "latency=0.3",
    "submit.error=2",
    "submit.rate_limit=1",
    "submit.timeout=1 sim:timeout_seconds=5",
    "submit.malformed=1",
    "reject=duration",
    "account=402",
    "read.error=2",
    "read.rate_limit=1",
    "read.timeout=1 sim:timeout_seconds=5",
    "read.malformed=2",
    "stall=1",
    "statuses=odd",
    "fail",
    "result=404",
    "result=html",
    "result=garbage",
    "result=slow",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stack_env(work: Path, web_port: int, sim_port: int, args) -> dict[str, str]:
    env = dict(os.environ)
    # Always the embedded default, on the soak's own files: a Redis named by the caller's
    # environment would share its job list with other clusters (CI's live stack).
    env.pop("REDIS_URL", None)
    simulator = f"http://127.0.0.1:{sim_port}"
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "studio.settings.test",
            "DATABASE_URL": f"sqlite:///{work / 'soak.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "SECRET_KEY": "soak-" + secrets.token_urlsafe(40),
            "STUDIO_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "MODELSTREAM_API_BASE": simulator,
            "MODELSTREAM_API_KEY": "soak-modelstream-key",
            "APIFRAME_API_BASE": simulator,
            "APIFRAME_API_KEY": "soak-apiframe-key",
            "STUDIO_FETCH_ALLOWED_HOSTS": "127.0.0.1",
            "SIMULATOR_FAST": "1",
            "SIMULATOR_LOOPBACK_ONLY": "1",
            "SIMULATOR_QUEUE_SECONDS": "0.2",
            # Short enough that what a killed worker held comes back within the run: the
            # broker offers an unacknowledged task again after the retry; a submit a dead
            # worker left half-way is failed as lost after STUDIO_SUBMIT_LOST_AFTER.
            "STUDIO_Q_WORKERS": "4",
            "STUDIO_Q_TIMEOUT": "30",
            "STUDIO_Q_RETRY": "40",
            "STUDIO_TRACKER_RUN_SECONDS": "10",
            "STUDIO_SUBMIT_LOST_AFTER": "15",
            "STUDIO_PROVIDER_READ_TIMEOUT": "3",
            "STUDIO_RESULT_DOWNLOAD_SECONDS": "20",
            "STUDIO_POLL_MAX_INTERVAL": "1",
            "STUDIO_GENERATION_DEADLINE": str(args.deadline),
            "STUDIO_LOG_FORMAT": "plain",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Stack:
    """The soak's own processes, each in its own process group."""

    def __init__(self, work: Path, env: dict[str, str], web_port: int, sim_port: int):
        self.work, self.env = work, env
        self.web_url = f"http://127.0.0.1:{web_port}"
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.web_port, self.sim_port = web_port, sim_port
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> None:
        log = (self.work / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def start_cluster(self) -> None:
        self.start("cluster", [sys.executable, "manage.py", "qcluster"])

    def kill_cluster(self) -> None:
        process = self.processes["cluster"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        # A killed cluster's orphaned workers are in its group, already gone; nothing else left.

    def sim(self, path: str) -> dict:
        with urllib.request.urlopen(self.sim_url + path, timeout=10) as response:
            return json.loads(response.read())


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def manage(env: dict[str, str], *command: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


# --- In this process, with Django set up on the soak's database ------------------------------


def _people(count: int):
    """People with credits, one team whose wallet some of them pay from, and their uploads:
    one reference image each that all their generations share, and one unused upload each."""
    from accounts.ledger import credits_grant, wallet_for_team
    from accounts.models import Membership
    from accounts.services import team_create
    from generations.forms import UploadCandidate
    from generations.services import reference_store
    from generations.uploads import image_inspect
    from tests.factories import image_upload, make_user

    people = [make_user(username=f"soak{index}", credits=100_000) for index in range(count)]
    team = team_create(name="Soak team", creator=people[0])
    for person in people[1:3]:
        Membership.objects.get_or_create(team=team, user=person)
    credits_grant(wallet=wallet_for_team(team=team), amount=100_000, actor=None, reason="soak")
    references = {}
    for person in people:
        for colour, used in (((30, 90, 160), True), ((200, 40, 40), False)):
            upload = image_upload(size=(160, 96), color=colour)
            candidate = UploadCandidate(file=upload, info=image_inspect(upload), kind="image")
            reference = reference_store(owner=person, upload=candidate)
            if used:
                references[person.pk] = reference
    return people, team, references


def _create(rng: random.Random, index: int, person, team, reference, fault: str | None):
    from generations.catalog import catalog_get
    from generations.services import generation_create

    prompt = f"Soak {index}: a lighthouse at dusk" + (f" sim:{fault}" if fault else "")
    if rng.random() < 0.5:
        model = catalog_get("wan2.6-i2v-flash")
        values = {
            "prompt": prompt,
            "resolution": "720P",
            "duration": 2,
            "prompt_extend": False,
            "audio": rng.random() < 0.3,
            "watermark": False,
            "seed": None,
        }
    else:
        model = catalog_get("wan-2.6-flash")
        values = {
            "prompt": prompt,
            "resolution": "720p",
            "duration": 5,
            "audio_enabled": rng.random() < 0.3,
            "enable_prompt_expansion": False,
            "seed": None,
        }
    image_field = model.field_for_role("reference_image").name
    pays_team = (
        team if person.username in ("soak0", "soak1", "soak2") and rng.random() < 0.5 else None
    )
    return generation_create(
        user=person,
        model=model,
        values=values,
        references={image_field: reference},
        team=pays_team,
    )


def _decodes(path: str) -> bool:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return False
            for _ in container.decode(video=0):
                return True
    except (av.error.FFmpegError, OSError):
        return False
    return False


def _poster_opens(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return image.size[0] > 0
    except OSError:
        return False


def check(stack: Stack, ids: list, faults: dict, media_root: Path) -> dict:
    """Every invariant the soak promises, measured independently of the studio's own code."""
    from django.db.models import Sum

    from accounts.models import LedgerEntry, Wallet
    from generations.models import Generation, GenerationEvent, Reference

    rows = list(Generation.objects.filter(pk__in=ids))
    states = Counter(row.state for row in rows)
    kinds = Counter(f"{row.state}/{row.error_kind}" for row in rows if row.error_kind)
    not_final = [str(row.id) for row in rows if not row.is_final]

    ledger_problems = []
    for wallet in Wallet.objects.annotate(total=Sum("entries__amount")):
        if wallet.balance != (wallet.total or 0) or wallet.balance < 0:
            ledger_problems.append(f"{wallet}: balance {wallet.balance} != {wallet.total}")
    entries = Counter(
        (entry.generation_id, entry.kind, entry.amount)
        for entry in LedgerEntry.objects.filter(generation_id__in=ids)
    )
    refunded_states = {"failed", "cancelled", "expired"}
    for row in rows:
        charges = entries[(row.id, "charge", -row.cost)]
        refunds = entries[(row.id, "refund", row.cost)]
        wanted = 1 if row.state in refunded_states else 0
        if charges != 1 or refunds != wanted:
            ledger_problems.append(f"{row.id} ({row.state}): {charges} charges, {refunds} refunds")

    lost_videos = []
    for row in rows:
        if row.state != "succeeded":
            continue
        video = media_root / row.video.name if row.video else None
        poster = media_root / row.poster.name if row.poster else None
        if not (video and video.is_file() and _decodes(str(video))):
            lost_videos.append(f"{row.id}: video {row.video.name!r}")
        if not (poster and poster.is_file() and _poster_opens(str(poster))):
            lost_videos.append(f"{row.id}: poster {row.poster.name!r}")

    lost = [row for row in rows if row.state == "failed" and row.error_kind == "lost"]
    swept = set(
        GenerationEvent.objects.filter(
            generation__in=lost, to_state="failed", detail__startswith="Lost between"
        ).values_list("generation_id", flat=True)
    )
    # A submit whose worker died half-way is failed by the tracker's sweep; one whose answer
    # the provider lost (a submit timeout or a garbled answer) is failed by the submit itself.
    lost_by_fault = Counter(
        "worker killed during the submit"
        if row.id in swept
        else f"provider's answer lost ({(faults.get(str(row.id)) or 'no fault').split(' ')[0]})"
        for row in lost
    )

    referenced = set(Reference.objects.values_list("file", flat=True))
    for video, poster in Generation.objects.values_list("video", "poster"):
        referenced |= {name for name in (video, poster) if name}
    on_disk = {
        str(path.relative_to(media_root)) for path in media_root.rglob("*") if path.is_file()
    }
    orphans = sorted(on_disk - referenced)
    dangling = sorted(referenced - on_disk)
    stats = stack.sim("/_sim/stats")
    latencies = sorted(
        (row.finished_at - row.created_at).total_seconds() for row in rows if row.finished_at
    )

    def percentile(share: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))], 1)

    cluster_log = (stack.work / "cluster.log").read_text(errors="replace")
    return {
        "store_leftovers_replaced": cluster_log.count("left by an earlier attempt"),
        "seconds_to_final": {"p50": percentile(0.5), "p95": percentile(0.95), "max": percentile(1)},
        "generations": len(rows),
        "states": dict(states),
        "error_kinds": dict(kinds),
        "not_final": not_final,
        "ledger_problems": ledger_problems,
        "duplicate_submits": stats["duplicate_submits"],
        "provider_submits": stats["submits"],
        "faults_fired": stats.get("faults", {}),
        "videos_checked": states.get("succeeded", 0),
        "videos_lost": lost_videos,
        "lost_between_studio_and_provider": len(lost),
        "lost_by_cause": dict(lost_by_fault),
        "references": Reference.objects.count(),
        "files_in_storage": len(on_disk),
        "orphan_files": orphans,
        "dangling_names": dangling,
    }


def run(args) -> dict:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="studio-soak-"))
    (work / "media").mkdir()
    web_port, sim_port = free_port(), free_port()
    env = stack_env(work, web_port, sim_port, args)
    stack = Stack(work, env, web_port, sim_port)
    result: dict = {"workdir": str(work), "seed": args.seed}
    started = time.monotonic()
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "createcachetable")
        stack.start("simulator", [sys.executable, "-m", "simulator", "--port", str(sim_port)])
        stack.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "studio.wsgi",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
            ],
        )
        stack.start_cluster()
        wait_for(stack.sim_url + "/healthz", 30)
        wait_for(stack.web_url + "/healthz", 60)

        os.environ.update(env)
        import django

        django.setup()
        import logging

        logging.getLogger("django-q").setLevel(logging.WARNING)  # no line per enqueued task
        from generations.models import Generation
        from generations.orphans import media_orphans_prune
        from generations.services import references_prune

        people, team, references = _people(args.people)
        ids: list = []
        faults: dict[str, str] = {}
        kills: list[float] = []
        stop_killing = threading.Event()

        def killer() -> None:
            low, high = args.kill_every
            while not stop_killing.wait(rng.uniform(low, high)):
                stack.kill_cluster()
                kills.append(time.monotonic() - started)
                stack.start_cluster()

        thread = threading.Thread(target=killer, name="killer", daemon=True)
        kill_started = time.monotonic()
        thread.start()
        next_at = time.monotonic()
        try:
            while len(ids) < args.generations and time.monotonic() - started < args.max_seconds:
                open_now = Generation.objects.exclude(state__in=Generation.FINAL_STATES).count()
                if time.monotonic() < next_at or open_now >= args.in_flight:
                    time.sleep(0.05)
                    continue
                next_at += 1 / args.rate
                person = rng.choice(people)
                fault = rng.choice(FAULTS) if rng.random() < args.fault_rate else None
                generation = _create(rng, len(ids), person, team, references[person.pk], fault)
                ids.append(generation.id)
                if fault:
                    faults[str(generation.id)] = fault
            stop_killing.wait(max(0.0, args.kill_phase - (time.monotonic() - kill_started)))
        finally:
            stop_killing.set()
            thread.join()
        kill_phase = time.monotonic() - kill_started
        # Undisturbed: the cluster picks up whatever the kills left.
        settle_started = time.monotonic()
        budget = max(30.0, args.max_seconds - (time.monotonic() - started))
        while time.monotonic() - settle_started < budget:
            if not Generation.objects.exclude(state__in=Generation.FINAL_STATES).exists():
                break
            time.sleep(0.5)
        settle = time.monotonic() - settle_started
        stack.kill_cluster()  # nothing may change while it is checked
        # The hourly clean-up, as the schedule runs it (unused uploads count from a day
        # ago; here from now, so the soak's unused uploads are removed with their files).
        pruned_references = references_prune(older_than=timedelta(0))
        swept = media_orphans_prune()
        result.update(check(stack, ids, faults, Path(env["MEDIA_ROOT"])))
        result.update(
            {
                "created": len(ids),
                "with_fault": len(faults),
                "faults_drawn": dict(Counter(f.split(" ")[0] for f in faults.values())),
                "kills": len(kills),
                "kill_phase_seconds": round(kill_phase, 1),
                "settle_seconds": round(settle, 1),
                "total_seconds": round(time.monotonic() - started, 1),
                "unused_uploads_removed": pruned_references,
                "orphans_removed_by_sweep": swept,
            }
        )
    finally:
        stack.stop()
    result["ok"] = not (
        result.get("not_final")
        or result.get("ledger_problems")
        or result.get("duplicate_submits")
        or result.get("videos_lost")
        or result.get("orphan_files")
        or result.get("dangling_names")
        or result.get("created", 0) < args.generations
    )
    if result["ok"] and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def summary(result: dict) -> str:
    lines = [
        f"soak: {result.get('created')} generations ({result.get('with_fault')} with a fault), "
        f"{result.get('kills')} cluster kills, {result.get('total_seconds')} s "
        f"(kills {result.get('kill_phase_seconds')} s, settle {result.get('settle_seconds')} s)",
        f"  states: {result.get('states')}; seconds from creation to final: "
        f"{result.get('seconds_to_final')}",
        f"  error kinds: {result.get('error_kinds')}",
        f"  not final: {len(result.get('not_final', []))}; ledger problems: "
        f"{len(result.get('ledger_problems', []))}; duplicate submits: "
        f"{result.get('duplicate_submits')}; videos lost: {len(result.get('videos_lost', []))}",
        f"  lost between studio and provider: {result.get('lost_between_studio_and_provider')} "
        f"{result.get('lost_by_cause')}",
        f"  stores that found an earlier, killed attempt's files and replaced them: "
        f"{result.get('store_leftovers_replaced')}",
        f"  files: {result.get('files_in_storage')}; orphans left: "
        f"{len(result.get('orphan_files', []))} (removed by the sweep: "
        f"{len(result.get('orphans_removed_by_sweep', []))}); dangling: "
        f"{len(result.get('dangling_names', []))}; unused uploads removed: "
        f"{result.get('unused_uploads_removed')}",
        "  OK" if result.get("ok") else f"  FAILED (work dir kept: {result.get('workdir')})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument(
        "--kill-every",
        type=lambda text: tuple(float(part) for part in text.split(":")),
        default=(2.0, 8.0),
        help="seconds between kills, drawn uniformly from LOW:HIGH (default 2:8)",
    )
    parser.add_argument(
        "--rate", type=float, default=1.0, help="generations created per second (default 1)"
    )
    parser.add_argument(
        "--kill-phase", type=float, default=0.0, help="keep killing at least this long (s)"
    )
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=40, help="open generations at most")
    parser.add_argument("--deadline", type=int, default=300, help="a generation's deadline (s)")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="the whole run's bound")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=OUT / "soak.json")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, media)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    result = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(summary(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
