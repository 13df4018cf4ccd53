"""django-q2 tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from studio.logs import generation_log_context

from . import results, services, tracker


def generation_submit_task(generation_id: str) -> None:
    with generation_log_context(generation_id):
        services.generation_submit(generation_id=generation_id)


def generation_store_result_task(generation_id: str) -> None:
    with generation_log_context(generation_id):
        results.generation_store_result(generation_id=generation_id)


def tracker_run_task() -> str:
    return tracker.tracker_run()


def tracker_ensure_task() -> bool:
    """The per-minute schedule: start a tracker if work remains and none runs."""
    from .models import Generation

    if Generation.objects.exclude(state__in=Generation.FINAL_STATES).exists():
        return tracker.tracker_ensure()
    return False


def references_prune_task() -> int:
    """The hourly schedule: remove uploads no generation used, a day after they came, and files
    no row references (left by a process killed between writing a file and saving its row)."""
    from .orphans import media_orphans_prune

    return services.references_prune() + len(media_orphans_prune())


def generations_purge_deleted_task() -> int:
    """The hourly schedule: remove the files of generations deleted past the undo window."""
    return services.generations_purge_deleted()


def webhook_send_task(delivery_id: str) -> str:
    from .api_webhooks import webhook_send

    return webhook_send(delivery_id=delivery_id).state


def webhooks_send_due_task() -> int:
    """The per-minute schedule: send the webhook retries that are due."""
    from .api_webhooks import webhooks_send_due

    return webhooks_send_due()
