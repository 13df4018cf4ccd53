"""Reads for the admin's usage page: credits spent over a period, by day, model, person and team."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from .models import LedgerEntry

SPEND_KINDS = [LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND]


@dataclass
class Row:
    label: str
    credits: int
    count: int = 0
    provider_cost: Decimal | None = None


@dataclass
class UsageReport:
    start: date
    end: date
    total: int = 0
    generations: int = 0
    by_day: list[Row] = field(default_factory=list)
    by_model: list[Row] = field(default_factory=list)
    by_user: list[Row] = field(default_factory=list)
    by_team: list[Row] = field(default_factory=list)
    granted: int = 0


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def usage_report(*, start: date, end: date) -> UsageReport:
    """Net credits spent (charges minus refunds) on generations made between start and end."""
    since, until = _bounds(start, end)
    spend = LedgerEntry.objects.filter(
        kind__in=SPEND_KINDS,
        generation__created_at__gte=since,
        generation__created_at__lt=until,
    )
    report = UsageReport(start=start, end=end)
    report.total = -(spend.aggregate(total=Sum("amount"))["total"] or 0)
    report.generations = spend.filter(kind=LedgerEntry.Kind.CHARGE).count()

    days = {
        row["day"]: -(row["credits"] or 0)
        for row in spend.annotate(day=TruncDate("generation__created_at"))
        .values("day")
        .annotate(credits=Sum("amount"))
    }
    day = start
    while day <= end:
        report.by_day.append(Row(label=day.isoformat(), credits=days.get(day, 0)))
        day += timedelta(days=1)

    for row in (
        spend.values("generation__model_key")
        .annotate(
            credits=Sum("amount"),
            count=Count("generation", filter=Q(kind=LedgerEntry.Kind.CHARGE), distinct=True),
        )
        .order_by("credits")
    ):
        report.by_model.append(
            Row(
                label=row["generation__model_key"],
                credits=-(row["credits"] or 0),
                count=row["count"],
            )
        )
    provider_costs = dict(
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.CHARGE,
            generation__created_at__gte=since,
            generation__created_at__lt=until,
        )
        .values("generation__model_key")
        .annotate(cost=Sum("generation__provider_cost"))
        .values_list("generation__model_key", "cost")
    )
    for item in report.by_model:
        item.provider_cost = provider_costs.get(item.label)

    for key, target in (
        ("generation__owner__username", report.by_user),
        ("wallet__team__name", report.by_team),
    ):
        queryset = spend
        if key.startswith("wallet__team"):
            queryset = spend.filter(wallet__team__isnull=False)
        for row in (
            queryset.values(key)
            .annotate(
                credits=Sum("amount"),
                count=Count("generation", filter=Q(kind=LedgerEntry.Kind.CHARGE), distinct=True),
            )
            .order_by("credits")[:50]
        ):
            target.append(Row(label=row[key], credits=-(row["credits"] or 0), count=row["count"]))

    report.granted = (
        LedgerEntry.objects.filter(
            kind__in=[LedgerEntry.Kind.GRANT, LedgerEntry.Kind.ADJUSTMENT],
            created_at__gte=since,
            created_at__lt=until,
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return report


def usage_csv_rows(report: UsageReport) -> list[list[str]]:
    rows = [["section", "label", "credits", "generations", "provider_cost"]]
    for section, items in (
        ("day", report.by_day),
        ("model", report.by_model),
        ("user", report.by_user),
        ("team", report.by_team),
    ):
        for item in items:
            rows.append(
                [
                    section,
                    item.label,
                    str(item.credits),
                    str(item.count) if section != "day" else "",
                    "" if item.provider_cost is None else str(item.provider_cost),
                ]
            )
    rows.append(["total", "", str(report.total), str(report.generations), ""])
    return rows
