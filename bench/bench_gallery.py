"""Benchmark: gallery pages against a trivial view, measured server-side in the same run.

    .venv/bin/python bench/bench_gallery.py [--rounds 200] [--database-url URL] [--redis-url URL]

Builds a fresh database in a temporary folder (SQLite by default; with --database-url an
*empty* PostgreSQL database), seeds 50,000 finished generations with `seed_gallery` (10,000
for the measured person, 10,000 for each of four others), then measures, interleaved round by
round so that noise falls on all alike:

- a trivial view behind the same middleware and login (it reads the session and the user);
- the gallery's first page, a filtered page, a search, and the 100th page reached by
  following each page's `<a rel="next">` link from the first.

Times are wall-clock around Django's WSGI application in this process, called as a WSGI
server calls it (request_started/finished signals included, so each request opens its
database connection as in production with CONN_MAX_AGE=0), with the session cookie of a
signed-in person; no network, no browser. After a warm-up the fragment cache is warm, as in
steady use; the cold first page (cache emptied) is reported apart. Query counts come from the
test client (the WSGI path resets the query log per request), per request, and again for the
first page at 12, 24 and 48 cards to show they do not grow with the page.
Targets: each page within 3x the trivial view's median, and a query count independent of the
page size. Prints a Markdown table for docs/performance.md; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import html
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PERSON = "bench"
OTHERS = ["bench-a", "bench-b", "bench-c", "bench-d"]
PER_PERSON = 10_000
NEXT = re.compile(r'<a rel="next" href="([^"]+)"')


def _setup(args: argparse.Namespace) -> Path:
    work = Path(tempfile.mkdtemp(prefix="studio-bench-gallery-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="studio.settings.base",
        STUDIO_VAR_DIR=str(work),
        MEDIA_ROOT=str(work / "media"),
        SECRET_KEY="bench-only-secret-key-0123456789-0123456789-0123456789",
        DEBUG="0",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    import django

    django.setup()
    from django.conf import settings

    settings.ROOT_URLCONF = "bench.urls"
    # Persistent connections, as a PostgreSQL deployment runs them (the studio's settings keep
    # SQLite at 0: each request opens its connection; this option shows what that costs).
    settings.DATABASES["default"]["CONN_MAX_AGE"] = args.conn_max_age
    return work


def _seed() -> float:
    import random

    from django.core.management import call_command
    from django.db import connection

    from accounts.services import user_create
    from generations.management.commands.seed_gallery import seed_gallery
    from generations.models import Generation

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    if Generation.objects.exists():
        raise SystemExit("The benchmark needs an empty database.")
    started = time.perf_counter()
    rng = random.Random(7)
    for name in [*OTHERS[:2], PERSON, *OTHERS[2:]]:
        user = user_create(username=name, password=None)
        seed_gallery(user=user, count=PER_PERSON, rng=rng)
    seeded = time.perf_counter() - started
    if connection.vendor == "postgresql":
        # What autovacuum does to a table after a bulk load: statistics for the planner, and the
        # GIN index's pending list merged into the index.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return seeded


def _client():
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=PERSON))
    return client


def _get(client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return response


class Server:
    """Calls the studio's WSGI application the way a WSGI server does, as one signed-in person."""

    def __init__(self, client) -> None:
        from django.core.wsgi import get_wsgi_application

        self.application = get_wsgi_application()
        self.cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())

    def get(self, url: str) -> bytes:
        path, _, query = url.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "testserver",
            "HTTP_COOKIE": self.cookie,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        status: list[str] = []
        body = self.application(environ, lambda line, headers, exc=None: status.append(line))
        try:
            content = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        if not status or not status[0].startswith("200"):
            raise SystemExit(f"{url} answered {status}")
        return content


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _get(client, url)
    return len(captured.captured_queries)


def _follow(client, url: str, pages: int) -> str:
    """The URL of page `pages`, reached by following `rel=next` from `url`."""
    for _ in range(pages - 1):
        match = NEXT.search(_get(client, url).content.decode())
        if match is None:
            raise SystemExit(f"{url} has no next page")
        url = html.unescape(match.group(1))
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--conn-max-age", type=int, default=0, help="CONN_MAX_AGE for the run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = _setup(args)
    try:
        from django.conf import settings
        from django.core.cache import cache
        from django.db import connection

        seeded = _seed()
        client = _client()
        page_100 = _follow(client, "/gallery/", 100)
        cases = {
            "trivial view": "/bench/trivial/",
            "gallery, first page": "/gallery/",
            "gallery, filtered": "/gallery/?model=wan-2.6-flash&resolution=720p&duration=5",
            "gallery, search": "/gallery/?q=lighthouse+dusk",
            "gallery, 100th page": page_100,
        }
        server = Server(client)
        cache.clear()
        cold_queries = _queries(client, "/gallery/")
        cache.clear()
        started = time.perf_counter()
        server.get("/gallery/")
        cold = time.perf_counter() - started
        for url in cases.values():
            for _ in range(20):
                server.get(url)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, url in cases.items():
                started = time.perf_counter()
                server.get(url)
                samples[name].append(time.perf_counter() - started)
        queries = {name: _queries(client, url) for name, url in cases.items()}
        cards = {
            name: _get(client, url).content.decode().count("data-card>")
            for name, url in cases.items()
        }
        by_size = {}
        for size in (12, 24, 48):
            settings.STUDIO_GALLERY_PAGE_SIZE = size
            _get(client, "/gallery/")  # warm the cards of this size
            by_size[size] = _queries(client, "/gallery/")
        settings.STUDIO_GALLERY_PAGE_SIZE = 24

        trivial = statistics.median(samples["trivial view"])
        failed = False
        print(
            f"\nDatabase: {connection.vendor} (CONN_MAX_AGE {connection.settings_dict['CONN_MAX_AGE']});"
            f" cache: {settings.CACHES['default']['BACKEND']}"
        )
        print(f"Seeded 50,000 generations in {seeded:.1f} s; {args.rounds} rounds.\n")
        print("| request | cards | median ms | p90 ms | × trivial | queries |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, values in samples.items():
            median = statistics.median(values)
            p90 = statistics.quantiles(values, n=10)[-1]
            ratio = median / trivial
            mark = ""
            if name != "trivial view" and ratio > 3:
                failed, mark = True, " (over 3×)"
            print(
                f"| {name} | {cards[name] or '—'} | {median * 1000:.2f} | {p90 * 1000:.2f} | "
                f"{ratio:.2f}{mark} | {queries[name]} |"
            )
        print(
            f"| gallery, first page, cold cache | 24 | {cold * 1000:.2f} | — | "
            f"{cold / trivial:.2f} | {cold_queries} |"
        )
        sizes = ", ".join(f"{size} cards: {count}" for size, count in by_size.items())
        print(f"\nQueries for the first page by page size (warm): {sizes}.")
        if len(set(by_size.values())) != 1:
            failed = True
            print("The query count grows with the page size.")
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
