"""Settings for the load test: the embedded default plus one trivial view to compare against."""

from studio.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.load_urls"
