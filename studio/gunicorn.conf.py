"""gunicorn settings for the studio; every value can be overridden on the command line."""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
# Uploads of 20 MB are streamed to temporary files; keep request lines and headers bounded.
limit_request_line = 8190
limit_request_fields = 100
