"""Webhooks for API clients: when a generation made through the API ends, the studio POSTs a
signed event to the URL the request named.

The event is signed as the Standard Webhooks specification lays out (`webhook-id`,
`webhook-timestamp`, `webhook-signature`: HMAC-SHA256 over id, timestamp and body, with the
secret of the token that made the generation), by the `standardwebhooks` package, so a client
verifies it with that package or any implementation of the specification. Events are written
in the transaction that ends the generation (an outbox: none is lost to a crash), sent at once
by a task, and retried with growing gaps (RETRY_GAPS) for up to GIVE_UP_AFTER; only through
the guarded fetcher, so never to an internal address.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from .fetcher import FetchError, GuardedFetcher
from .models import ApiWebhook, Generation, WebhookDelivery

# Seconds before each retry (the first try is at once); the per-minute schedule sends them.
RETRY_GAPS = (60, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
GIVE_UP_AFTER = timedelta(days=1)
SEND_SECONDS = 15.0
EVENT_FOR_STATE: dict[str, str] = {
    "succeeded": "generation.succeeded",
    "failed": "generation.failed",
    "cancelled": "generation.cancelled",
    "expired": "generation.expired",
}


def webhook_events_parse(value: object) -> list[str]:
    """The events asked for (all four when left out); ValueError says what is wrong."""
    if value is None:
        return list(ApiWebhook.EVENTS)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("webhook_events is a non-empty list of event names.")
    unknown = [v for v in value if v not in ApiWebhook.EVENTS]
    if unknown:
        raise ValueError(
            f"Unknown event {unknown[0]!r}; choose from {', '.join(ApiWebhook.EVENTS)}."
        )
    return list(dict.fromkeys(value))


def webhook_url_check(url: object, fetcher: GuardedFetcher | None = None) -> str:
    """The webhook URL if the studio may send to it; ValueError says why not (an internal
    address is refused when the request is made, not when the event is due)."""
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise ValueError("webhook is an http(s) URL of at most 2,000 characters.")
    try:
        (fetcher or GuardedFetcher()).check(url.strip())
    except FetchError as error:
        raise ValueError(error.message) from None
    return url.strip()


def webhook_queue(generation: Generation) -> WebhookDelivery | None:
    """Within the transaction that ended `generation`: the event for its webhook, if it has
    one that asked for this event; sent once the transaction commits."""
    event = EVENT_FOR_STATE.get(str(generation.state))
    webhook = ApiWebhook.objects.filter(generation=generation).first()
    if event is None or webhook is None or event not in webhook.events:
        return None
    from .api import task_object

    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        id=f"msg_{secrets.token_hex(12)}",
        webhook=webhook,
        event=event,
        payload={"type": event, "timestamp": now.isoformat(), "data": task_object(generation)},
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: _enqueue(delivery.id))
    return delivery


def _enqueue(delivery_id: str) -> None:
    from django_q.tasks import async_task

    async_task("generations.tasks.webhook_send_task", delivery_id, task_name="webhook")


def webhook_sign(*, secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    signature = Webhook(secret).sign(msg_id, at, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def webhook_send(
    *, delivery_id: str, fetcher: GuardedFetcher | None = None, now: datetime | None = None
) -> WebhookDelivery:
    """Try one delivery now: a 2xx answer delivers it; anything else schedules the next try
    (RETRY_GAPS), or gives up once GIVE_UP_AFTER has passed since the event."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("webhook__token")
            .get(pk=delivery_id)
        )
        if delivery.state != WebhookDelivery.State.PENDING:
            return delivery
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return delivery  # not due, or another worker is sending it
        # Claimed: a second worker finds the next try in the future and leaves it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + timedelta(seconds=SEND_SECONDS * 2)
        )
    token = delivery.webhook.token
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    status, answer = None, ""
    if token is None:
        answer = "The API token that made this generation was deleted; nothing signs it."
    else:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Studio-Webhooks/1",
            **webhook_sign(secret=token.webhook_secret, msg_id=delivery.id, at=now, body=body),
        }
        try:
            result = (fetcher or GuardedFetcher()).post(
                delivery.webhook.url,
                body=body.encode(),
                headers=headers,
                total_seconds=SEND_SECONDS,
            )
            status, answer = result.status, result.answer
        except FetchError as error:
            answer = error.message
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status = status
    delivery.last_answer = answer[:500]
    if status is not None and 200 <= status < 300:
        delivery.state = WebhookDelivery.State.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    else:
        gap = RETRY_GAPS[min(delivery.attempts - 1, len(RETRY_GAPS) - 1)]
        due = now + timedelta(seconds=gap)
        if due - delivery.created_at > GIVE_UP_AFTER or token is None:
            delivery.state = WebhookDelivery.State.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = due
    delivery.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "last_status",
            "last_answer",
            "state",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return delivery


def webhooks_send_due(
    *, now: datetime | None = None, fetcher: GuardedFetcher | None = None, limit: int = 200
) -> int:
    """Send every delivery whose next try is due (the per-minute schedule); how many."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        webhook_send(delivery_id=delivery_id, fetcher=fetcher, now=now)
    return len(due)


def webhook_send_again(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """A person's "Send again": the same event (same id, so a receiver can tell it is the
    same), tried now, with a fresh day of retries."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.PENDING, next_attempt_at=now, created_at=now
    )
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_for(*, user, limit: int = 20) -> list[WebhookDelivery]:
    """A person's most recent webhook deliveries, for their account page."""
    return list(
        WebhookDelivery.objects.filter(webhook__generation__owner=user)
        .select_related("webhook__generation", "webhook__token")
        .order_by("-created_at")[:limit]
    )
