"""Batches: one submit that makes several generations — variations (different seeds), one
generation per line of the prompt, a sweep over one or two of the model's fields — combined
as a product of at most BATCH_MAX, charged in one transaction, all or nothing. Each member is
an ordinary generation (refunded on its own if it ends without a video)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts.ledger import InsufficientCredits, wallet_for_team, wallet_for_user
from accounts.models import Team, User, Wallet

from .catalog import CatalogField, CatalogModel
from .models import Batch, Generation, Reference
from .pricing import price_quote

BATCH_MAX = 64
VARIATIONS_MAX = 16


class BatchRefused(ValueError):
    """The batch asked for cannot be made; `field` is the control the message belongs beside."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class BatchPlan:
    members: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    axes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)


def sweepable_fields(model: CatalogModel) -> list[CatalogField]:
    """The fields a batch may sweep over: options and switches the form always sends."""
    return [
        spec
        for spec in model.fields
        if spec.type in ("enum", "boolean") and not spec.is_file and spec.condition is None
    ]


def _sweep_values(spec: CatalogField) -> list[Any]:
    if spec.type == "boolean":
        return [True, False]
    return [option.value for option in spec.options]


def _said(spec: CatalogField, value: Any) -> str:
    if spec.type == "boolean":
        return "on" if value else "off"
    for option in spec.options:
        if option.value == value:
            return option.shown_label
    return str(value)


def batch_plan(
    *,
    model: CatalogModel,
    values: dict[str, Any],
    variations: int = 1,
    prompt_lines: bool = False,
    sweep: list[str] | tuple[str, ...] = (),
) -> BatchPlan:
    """The members of a batch: every prompt line × every swept value × every variation."""
    if not 1 <= variations <= VARIATIONS_MAX:
        raise BatchRefused(f"Choose from 1 to {VARIATIONS_MAX} variations.", "variations")
    prompt_spec = model.field_for_role("prompt")
    seed_spec = model.field_for_role("seed")
    prompt = str(values.get(prompt_spec.name) or "") if prompt_spec else ""
    prompts = [prompt]
    if prompt_lines and prompt_spec is not None:
        prompts = [line.strip() for line in prompt.splitlines() if line.strip()] or [prompt]
    sweeps: list[CatalogField] = []
    allowed = {spec.name: spec for spec in sweepable_fields(model)}
    for name in sweep:
        if not name:
            continue
        if name not in allowed:
            raise BatchRefused(f"{name!r} cannot be swept for {model.name}.", "sweep")
        if allowed[name] in sweeps:
            raise BatchRefused("Choose two different settings to sweep.", "sweep_2")
        sweeps.append(allowed[name])
    if len(sweeps) > 2:
        raise BatchRefused("Sweep at most two settings at once.", "sweep")
    size = len(prompts) * variations
    for spec in sweeps:
        size *= len(_sweep_values(spec))
    if size > BATCH_MAX:
        raise BatchRefused(
            f"This would make {size} videos; a batch makes at most {BATCH_MAX}. "
            "Fewer variations, lines or swept settings will do.",
            "variations",
        )
    plan = BatchPlan()
    if len(prompts) > 1:
        plan.axes.append({"name": "prompt", "label": "Prompt", "values": prompts})
    for spec in sweeps:
        plan.axes.append(
            {
                "name": spec.name,
                "label": spec.shown_label,
                "values": [_said(spec, v) for v in _sweep_values(spec)],
            }
        )
    if variations > 1:
        plan.axes.append(
            {"name": "variation", "label": "Variation", "values": list(range(1, variations + 1))}
        )
    base_seed = values.get(seed_spec.name) if seed_spec else None
    grid = itertools.product(
        range(len(prompts)),
        *[range(len(_sweep_values(spec))) for spec in sweeps],
        range(variations),
    )
    for point in grid:
        prompt_at, *swept, variation = point
        member = dict(values)
        place: dict[str, Any] = {}
        if prompt_spec is not None:
            member[prompt_spec.name] = prompts[prompt_at]
        if len(prompts) > 1:
            place["prompt"] = prompt_at
        for spec, at in zip(sweeps, swept, strict=True):
            member[spec.name] = _sweep_values(spec)[at]
            place[spec.name] = at
        if variations > 1:
            place["variation"] = variation
            if seed_spec is not None:
                if base_seed is None:
                    member[seed_spec.name] = None  # drawn for each one
                else:
                    top = int(seed_spec.max) if seed_spec.max is not None else 2**31 - 1
                    member[seed_spec.name] = (int(base_seed) + variation) % (top + 1)
        plan.members.append((member, place))
    return plan


def batch_price(*, model: CatalogModel, plan: BatchPlan, files: dict[str, bool]) -> int:
    """The sum of each member's own price."""
    return sum(
        price_quote(model=model, values={**values, **files}).credits for values, _ in plan.members
    )


def batch_create(
    *,
    user: User,
    model: CatalogModel,
    plan: BatchPlan,
    references: dict[str, Reference],
    team: Team | None = None,
) -> Batch:
    """A batch from the create page: every member with the same reference files."""
    files = {name: True for name in references}
    total = batch_price(model=model, plan=plan, files=files)
    batch, _ = batch_members_create(
        user=user,
        model=model,
        axes=plan.axes,
        members=[(values, references, place) for values, place in plan.members],
        total=total,
        team=team,
    )
    return batch


def batch_members_create(
    *,
    user: User,
    model: CatalogModel,
    axes: list[dict[str, Any]],
    members: list[tuple[dict[str, Any], dict[str, Reference], dict[str, Any]]],
    total: int,
    team: Team | None = None,
    each: Callable[[Generation], object] | None = None,
) -> tuple[Batch, list[Generation]]:
    """Create and charge every member (values, reference files, place on the axes) in one
    transaction: with too few credits (or a cap reached) nothing is created, and the message
    says how many credits are missing. `each` runs for every member, in the transaction."""
    from .services import generation_create

    with transaction.atomic():
        wallet = wallet_for_team(team=team) if team else wallet_for_user(user=user)
        # Locked for the whole batch: a concurrent batch waits, then sees what this one left.
        locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
        if locked.balance < total:
            raise InsufficientCredits(
                price=total, balance=locked.balance, wallet_label=wallet.owner_label
            )
        batch = Batch.objects.create(owner=user, team=team, model_key=model.key, axes=axes)
        made = []
        for values, files, place in members:
            generation = generation_create(
                user=user,
                model=model,
                values=values,
                references=files,
                team=team,
                batch=batch,
                batch_place=place,
            )
            if each is not None:
                each(generation)
            made.append(generation)
    return batch, made


def batch_get_for_viewer(*, viewer: User, id: Any) -> tuple[Batch, list[Generation]]:
    """A batch and its members the viewer may see (Http404 for anything else)."""
    import uuid

    from django.http import Http404

    from .selectors import generations_visible_to

    try:
        key = uuid.UUID(str(id))
    except ValueError:
        raise Http404("No such batch.") from None
    batch = Batch.objects.filter(pk=key).first()
    if batch is None:
        raise Http404("No such batch.")
    members = list(
        generations_visible_to(viewer=viewer)
        .filter(batch=batch, deleted_at__isnull=True)
        .order_by("created_at", "id")
    )
    if not members and batch.owner_id != viewer.pk:
        raise Http404("No such batch.")
    return batch, members
