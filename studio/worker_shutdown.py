"""Stopping a django-q2 worker gracefully, and telling long tasks that a stop was asked for.

How a cluster stops: SIGTERM (or Ctrl-C) to the `qcluster` process makes django-q2 stop taking
tasks from the broker, let every worker finish the task in hand, and exit. Two things are added
here, in every worker process (hooked on django-q2's `post_spawn`):

- `stop_requested()` tells a long task that its cluster is stopping: the tracker loop checks it
  every tick and hands its lease to a successor on another cluster at once, instead of tracking
  on for up to STUDIO_TRACKER_RUN_SECONDS while the stop waits for it. The cluster's own status
  (django-q2's `Stat`, which it saves as "Stopping" the moment the stop begins) is read from
  the broker's store, at most every STATUS_CHECK_SECONDS.
- SIGTERM sent to the whole process group (systemd's default, honcho, `kill -- -PGID`) no longer
  kills a busy worker mid-task: the task in hand finishes (bounded by the cluster's timeout),
  then the worker exits; an idle worker exits at once. A worker whose cluster went away
  (re-parented) exits as soon as it is idle.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

STATUS_CHECK_SECONDS = 0.5
ORPHAN_CHECK_SECONDS = 1.0

_stop = threading.Event()
_busy = threading.Event()
_state: dict[str, Any] = {"in_worker": False, "parent": None, "cluster_id": None, "checked": 0.0}
_broker: list[Any] = []


def stop_requested() -> bool:
    """Whether this process was asked to stop, or is a worker of a cluster that is stopping."""
    if _stop.is_set():
        return True
    if not _state["in_worker"]:
        return False
    now = time.monotonic()
    if now - _state["checked"] < STATUS_CHECK_SECONDS:
        return False
    _state["checked"] = now
    if os.getppid() != _state["parent"]:
        _stop.set()  # the cluster that started this worker is gone
        return True
    try:
        return _cluster_is_stopping()
    except Exception:  # an unreadable status is not a stop request
        logger.debug("reading the cluster status failed", exc_info=True)
        return False


def _cluster_is_stopping() -> bool:
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.signing import BadSignature, SignedPackage
    from django_q.status import Stat

    if not _broker:
        _broker.append(get_broker())
    broker = _broker[0]
    if _state["cluster_id"] is None:
        # This worker's parent is its cluster's sentinel; find that cluster's status entry once.
        host = socket.gethostname()
        for stat in Stat.get_all(broker=broker):
            if stat.sentinel == _state["parent"] and stat.host == host:
                _state["cluster_id"] = stat.cluster_id
                break
        else:
            return False
    pack = broker.get_stat(Stat.get_key(_state["cluster_id"]))
    if not pack:
        return False
    try:
        status = str(SignedPackage.loads(pack).status)
    except BadSignature:
        return False
    return status in (str(Conf.STOPPING), str(Conf.STOPPED))


# --- Worker process hooks -----------------------------------------------------------------


def _hard_exit_after(seconds: float) -> None:
    def exit_now() -> None:
        time.sleep(seconds)
        logger.warning("the task in hand did not finish within %ss of SIGTERM; exiting", seconds)
        os._exit(1)

    threading.Thread(target=exit_now, name="sigterm-deadline", daemon=True).start()


def _on_sigterm(signum: int, frame: object) -> None:
    if not _busy.is_set():
        os._exit(0)  # idle: nothing to finish
    if not _stop.is_set():
        from django.conf import settings

        _stop.set()
        # The cluster's timeout already bounds every task; past it (plus a margin) give up.
        _hard_exit_after(float(settings.Q_CLUSTER.get("timeout") or 60) + 5)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(ORPHAN_CHECK_SECONDS)
        if os.getppid() != parent:
            _stop.set()
            if not _busy.is_set():
                os._exit(0)


def worker_spawned(sender: object = None, **kwargs: object) -> None:
    """django-q2 `post_spawn` (runs in each new worker process)."""
    _stop.clear()
    _busy.clear()
    parent = os.getppid()
    _state.update(in_worker=True, parent=parent, cluster_id=None, checked=0.0)
    _broker.clear()
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=_watch_parent, args=(parent,), name="orphan-watch", daemon=True).start()


def task_starting(sender: object = None, **kwargs: object) -> None:
    """django-q2 `pre_execute` (in the worker, before the task runs)."""
    _busy.set()


def task_finished(sender: object = None, **kwargs: object) -> None:
    """django-q2 `post_execute_in_worker` (in the worker, after the task ran)."""
    _busy.clear()
    if _stop.is_set() and os.getppid() != _state["parent"]:
        os._exit(0)  # orphaned: no cluster will hand this worker another task


def connect() -> None:
    from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

    post_spawn.connect(worker_spawned, dispatch_uid="studio.worker_spawned")
    pre_execute.connect(task_starting, dispatch_uid="studio.task_starting")
    post_execute_in_worker.connect(task_finished, dispatch_uid="studio.task_finished")
