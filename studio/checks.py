"""System checks that refuse to start the studio with a dangerous configuration."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_task_queue_timeouts(app_configs: object = None, **kwargs: object) -> list[Error]:
    errors: list[Error] = []
    cluster = getattr(settings, "Q_CLUSTER", {})
    timeout, retry = cluster.get("timeout"), cluster.get("retry")
    if timeout is None or retry is None:
        errors.append(
            Error(
                "Q_CLUSTER must set both 'timeout' and 'retry'.",
                hint="Set STUDIO_Q_TIMEOUT and STUDIO_Q_RETRY, with the timeout below the retry.",
                id="studio.E001",
            )
        )
    elif timeout >= retry:
        errors.append(
            Error(
                f"Q_CLUSTER timeout ({timeout}s) must be below retry ({retry}s): otherwise a task "
                "still running is handed to a second worker and runs twice.",
                hint="Lower STUDIO_Q_TIMEOUT or raise STUDIO_Q_RETRY.",
                id="studio.E002",
            )
        )
    if not cluster.get("workers"):
        errors.append(
            Error("Q_CLUSTER must set the number of workers explicitly.", id="studio.E003")
        )
    tracker = getattr(settings, "STUDIO_TRACKER_RUN_SECONDS", 0)
    if timeout is not None and tracker >= timeout * 0.8:
        errors.append(
            Error(
                f"STUDIO_TRACKER_RUN_SECONDS ({tracker}) must stay well under the task timeout "
                f"({timeout}s), or the cluster kills the tracker in the middle of a tick.",
                id="studio.E004",
            )
        )
    return errors
