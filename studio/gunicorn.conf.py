"""gunicorn settings for the studio; every value can be overridden on the command line.

Used by `make run` (plain logs) and `make prod` (one JSON object per line). The environment
sets the size: WEB_CONCURRENCY processes (default: from the core count), GUNICORN_THREADS
threads each, GUNICORN_BIND (default 127.0.0.1:$PORT: the proxy runs on the same machine).
"""

import multiprocessing
import os

from studio.logs import gunicorn_logconfig

_production = os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production")

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Request handling is mostly database and template work: two processes per core, each with a
# few threads for requests that wait (uploads, media streamed without a proxy).
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 12)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
# A request that takes longer than this is killed; uploads of 20 MB over a slow link fit.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
# On SIGTERM, requests in progress get this long to finish before the workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = 5
# Recycle workers now and then so a slow leak never grows without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = max_requests // 10
# The heartbeat file lives in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Only the proxy on this machine may set X-Forwarded-* (FORWARDED_ALLOW_IPS for a remote one).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
# Microseconds (%(D)s) would do; milliseconds read better, so the JSON log carries `M`.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
logconfig_dict = gunicorn_logconfig(
    fmt=os.environ.get("STUDIO_LOG_FORMAT", "json" if _production else "plain")
)

# Uploads are streamed to temporary files; keep request lines and headers bounded.
limit_request_line = 8190
limit_request_fields = 100
