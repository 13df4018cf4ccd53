"""Reads: every view, fragment, media URL and API route reaches generations through these."""

from __future__ import annotations

import copy
import json
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Team, User

from .catalog import PROVIDER_NAMES, CatalogField, CatalogModel, catalog
from .gallery import PAGE_SIZE, Cursor, GalleryFilters
from .models import (
    Favourite,
    Generation,
    GenerationEvent,
    ModelAvailability,
    Reference,
    TrackerLease,
)
from .providers.health import providers_paused as breakers_paused
from .search import search_condition
from .sharing import generation_can_manage

# What a card shows: everything else (the request, the JSON documents) stays in the database.
CARD_FIELDS = (
    "id",
    "owner_id",
    "team_id",
    "team__name",
    "team__slug",
    "owner__username",
    "model_key",
    "state",
    "prompt",
    "resolution",
    "duration",
    "progress",
    "result_url",
    "error_kind",
    "error_param",
    "dispatch_requested_at",
    "video_width",
    "video_height",
    "video_duration",
    "created_at",
    "updated_at",
    "submitted_at",
)


def generations_visible_to(*, viewer: User) -> QuerySet[Generation]:
    """Generations the viewer may see: their own, and their teams' (not deleted)."""
    if not viewer.is_authenticated:
        return Generation.objects.none()
    team_ids = viewer.memberships.values("team_id")
    return Generation.objects.filter(
        Q(owner=viewer) | Q(team_id__in=team_ids), deleted_at__isnull=True
    )


def generation_get_for_viewer(*, viewer: User, id: Any) -> Generation:
    """The generation `id` if the viewer may see it; Http404 for anything else."""
    try:
        key = uuid.UUID(str(id))
    except ValueError:
        raise Http404("No such generation.") from None
    generation = (
        generations_visible_to(viewer=viewer)
        .select_related("owner", "team", "reference", "audio_reference")
        .filter(pk=key)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


# --- Galleries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GalleryEntry:
    """One card's place in a gallery page: enough to order it, key its cached body and mark it."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    state: str
    team_id: int | None
    team_name: str | None
    is_favourite: bool

    @property
    def is_final(self) -> bool:
        return self.state in Generation.FINAL_STATES


@dataclass(frozen=True)
class GalleryPage:
    entries: list[GalleryEntry]
    next_cursor: Cursor | None


ENTRY_FIELDS = ("id", "created_at", "updated_at", "state", "team_id", "team__name", "is_favourite")


def _favourite_of(viewer: User) -> Exists:
    return Exists(Favourite.objects.filter(user=viewer, generation=OuterRef("pk")))


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered(queryset: QuerySet[Generation], filters: GalleryFilters) -> QuerySet[Generation]:
    if filters.states:
        queryset = queryset.filter(state__in=filters.states)
    if filters.model:
        queryset = queryset.filter(model_key=filters.model)
    if filters.resolution:
        queryset = queryset.filter(resolution=filters.resolution.lower())
    if filters.duration is not None:
        queryset = queryset.filter(duration=filters.duration)
    if filters.team:
        queryset = queryset.filter(team__slug=filters.team)
    if filters.favourites:
        queryset = queryset.filter(is_favourite=True)  # type: ignore[misc]  # an annotation
    # Day bounds as a range on created_at (not `__date`), so the index still serves them.
    if filters.date_from:
        queryset = queryset.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        queryset = queryset.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.batch:
        queryset = queryset.filter(batch_id=filters.batch)
    if filters.q:
        condition = search_condition(filters.q)
        if condition is not None:
            queryset = queryset.filter(condition)
    return queryset


def _keyset(cursor: Cursor, *, descending: bool) -> Q:
    """Rows after the cursor in (created_at, id) order; the plain bound lets an index seek."""
    if descending:
        return Q(created_at__lte=cursor.created_at) & (
            Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, id__lt=cursor.id)
        )
    return Q(created_at__gte=cursor.created_at) & (
        Q(created_at__gt=cursor.created_at) | Q(created_at=cursor.created_at, id__gt=cursor.id)
    )


def _gallery_scope(*, viewer: User, team: Team | None) -> QuerySet[Generation]:
    """What a gallery may show: the viewer's own (not deleted), or a team's the viewer may see."""
    if team is not None:
        return generations_visible_to(viewer=viewer).filter(team=team)
    if not viewer.is_authenticated:
        return Generation.objects.none()
    # The viewer's own generations are all visible to them: no need for the team clause.
    return Generation.objects.filter(owner=viewer, deleted_at__isnull=True)


def generation_list_for_gallery(
    *,
    viewer: User,
    filters: GalleryFilters,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
    team: Team | None = None,
) -> GalleryPage:
    """One page of a gallery, in keyset order: one light query, whatever the page size.

    The personal gallery (`team` None) holds the viewer's own generations, those made for a
    team included; a team gallery (`team` given) holds that team's generations that the viewer
    may see. Turn the entries into cards with `generations.gallery.gallery_cards`.
    """
    queryset = _gallery_scope(viewer=viewer, team=team)
    queryset = _filtered(queryset.annotate(is_favourite=_favourite_of(viewer)), filters)
    if filters.sort == "oldest":
        order: tuple[str, ...] = ("created_at", "id")
        if after is not None:
            queryset = queryset.filter(_keyset(after, descending=False))
    elif filters.sort == "favourites":
        order = ("-is_favourite", "-created_at", "-id")
        if after is not None:
            rest = _keyset(after, descending=True)
            if after.favourite:
                queryset = queryset.filter(Q(is_favourite=False) | (Q(is_favourite=True) & rest))
            else:
                queryset = queryset.filter(Q(is_favourite=False) & rest)
    else:
        order = ("-created_at", "-id")
        if after is not None:
            queryset = queryset.filter(_keyset(after, descending=True))
    rows = queryset.order_by(*order).values_list(*ENTRY_FIELDS)[: limit + 1]
    entries = [GalleryEntry(*row) for row in rows]
    next_cursor = None
    if len(entries) > limit:
        entries = entries[:limit]
        last = entries[-1]
        next_cursor = Cursor(
            created_at=last.created_at,
            id=last.id,
            favourite=last.is_favourite if filters.sort == "favourites" else None,
        )
    return GalleryPage(entries=entries, next_cursor=next_cursor)


def generations_for_cards(*, viewer: User, ids: list[uuid.UUID]) -> dict[uuid.UUID, Generation]:
    """What the cards of these generations show, for those the viewer may see; one query."""
    queryset = (
        generations_visible_to(viewer=viewer)
        .filter(pk__in=ids)
        .select_related("team", "owner")
        .only(*CARD_FIELDS)
    )
    return {generation.id: generation for generation in queryset}


def generation_card_for_viewer(*, viewer: User, id: Any) -> Generation:
    """One generation with what its card shows, or Http404."""
    try:
        key = uuid.UUID(str(id))
    except ValueError:
        raise Http404("No such generation.") from None
    generation = (
        generations_visible_to(viewer=viewer)
        .select_related("team", "owner")
        .only(*CARD_FIELDS)
        .filter(pk=key)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def generation_is_favourite(*, viewer: User, generation: Generation) -> bool:
    return Favourite.objects.filter(user=viewer, generation=generation).exists()


def teams_for_viewer(*, viewer: User) -> list[Team]:
    """The teams the viewer belongs to, by name (filter choices, share targets)."""
    return list(Team.objects.filter(memberships__user=viewer).order_by("name"))


# --- One generation -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterRow:
    label: str
    name: str
    value: str
    sent: bool


@dataclass(frozen=True)
class GenerationDetail:
    generation: Generation
    model: CatalogModel | None
    events: list[GenerationEvent]
    favourite: bool
    parameters: list[ParameterRow]
    request_json: str
    retry_of: Generation | None
    retries: list[Generation]
    is_owner: bool
    can_manage: bool
    progress: Progress | None = None  # while unfinished


def _display_value(spec: CatalogField, value: Any, generation: Generation) -> str:
    if spec.is_file:
        reference = generation.reference if spec.type == "image" else generation.audio_reference
        return (reference.original_name or "uploaded file") if reference else "uploaded file"
    if spec.type == "boolean":
        return "on" if value else "off"
    if spec.type == "enum":
        return spec.option_label(value)
    text = str(value)
    return f"{text} {spec.unit}".strip() if spec.unit else text


def _parameter_rows(model: CatalogModel | None, generation: Generation) -> list[ParameterRow]:
    if model is None:
        return [
            ParameterRow(label=name, name=name, value=json.dumps(value), sent=True)
            for name, value in generation.params.items()
        ]
    rows = []
    for spec in model.fields:
        value = generation.params.get(spec.name)
        sent = _present_on_wire(generation.request_body, spec)
        if value is None or value == "" or not sent:
            rows.append(ParameterRow(label=spec.label, name=spec.name, value="", sent=False))
        else:
            shown = _display_value(spec, value, generation)
            rows.append(ParameterRow(label=spec.label, name=spec.name, value=shown, sent=True))
    return rows


def _present_on_wire(body: dict, spec: CatalogField) -> bool:
    node: Any = body
    for part in spec.wire_path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _request_for_display(model: CatalogModel | None, generation: Generation) -> str:
    """The request as sent, with the signed links to reference files left out (bearer URLs)."""
    body = copy.deepcopy(generation.request_body)
    for spec in model.fields if model else ():
        if not spec.is_file:
            continue
        node = body
        for part in spec.wire_path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and spec.wire_path[-1] in node:
            node[spec.wire_path[-1]] = f"<signed link to the {spec.label.lower()}>"
    return json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False)


def generation_detail_for_viewer(*, viewer: User, id: Any) -> GenerationDetail:
    """Everything the generation page shows, for a generation the viewer may see (else 404)."""
    generation = generation_get_for_viewer(viewer=viewer, id=id)
    model = catalog().get(generation.model_key)
    visible = generations_visible_to(viewer=viewer)
    retry_of = (
        visible.filter(pk=generation.retry_of_id).only("id", "state", "created_at").first()
        if generation.retry_of_id
        else None
    )
    retries = list(
        visible.filter(retry_of=generation).only("id", "state", "created_at").order_by("created_at")
    )
    return GenerationDetail(
        generation=generation,
        model=model,
        events=list(generation.events.all()),
        favourite=generation_is_favourite(viewer=viewer, generation=generation),
        parameters=_parameter_rows(model, generation),
        request_json=_request_for_display(model, generation),
        retry_of=retry_of,
        retries=retries,
        is_owner=generation.owner_id == viewer.pk,
        can_manage=generation_can_manage(viewer=viewer, generation=generation),
        progress=(
            None if generation.is_final else generation_progress(generation, waiting_detail=True)
        ),
    )


@dataclass(frozen=True)
class Reuse:
    """What "use again" puts in the create form."""

    generation: Generation
    model: CatalogModel
    values: dict[str, Any]
    references: dict[str, Reference]
    missing_files: list[str]
    # "Fix and try again": the provider's refusal, beside the field it named.
    field_errors: dict[str, str]


def _refused_field(model: CatalogModel, generation: Generation) -> str | None:
    """The form field a provider's refusal named (`error.param`: a field or a wire name)."""
    param = (generation.error_param or "").strip()
    if generation.state != Generation.State.FAILED or not param:
        return None
    for spec in model.fields:
        if param in (spec.name, spec.wire) or param.rsplit(".", 1)[-1] == spec.wire_path[-1]:
            return spec.name
    return None


def generation_reuse_for_viewer(*, viewer: User, id: Any, keep_seed: bool = False) -> Reuse:
    """The model, parameters and reference files of a generation the viewer may see (else 404).

    The seed is carried only with `keep_seed` ("use this seed"); otherwise a new one is drawn.
    Reference files are carried when they are the viewer's own (a teammate's uploads stay
    theirs: the viewer is asked for the file again).
    """
    generation = generation_get_for_viewer(viewer=viewer, id=id)
    model = catalog().get(generation.model_key)
    if model is None:
        raise Http404("This generation's model is no longer offered.")
    values: dict[str, Any] = {}
    references: dict[str, Reference] = {}
    missing: list[str] = []
    for spec in model.fields:
        value = generation.params.get(spec.name)
        if spec.is_file:
            if not value:
                continue
            reference = generation.reference if spec.type == "image" else generation.audio_reference
            if reference is not None and reference.owner_id == viewer.pk:
                references[spec.name] = reference
            else:
                missing.append(spec.label)
            continue
        if spec.role == "seed" and not keep_seed:
            continue
        if value is not None:
            values[spec.name] = value
    refused = _refused_field(model, generation)
    return Reuse(
        generation=generation,
        model=model,
        values=values,
        references=references,
        missing_files=missing,
        field_errors={refused: generation.error_message} if refused else {},
    )


# --- References and counts ----------------------------------------------------------------


def reference_get_for_owner(*, owner: User, id: Any, kind: str | None = None) -> Reference | None:
    """A stored reference of this owner, or None."""
    try:
        key = uuid.UUID(str(id))
    except ValueError:
        return None
    queryset = Reference.objects.filter(owner=owner, pk=key)
    if kind:
        queryset = queryset.filter(kind=kind)
    return queryset.first()


def references_recent(*, owner: User, kind: str, limit: int = 12) -> list[Reference]:
    return list(Reference.objects.filter(owner=owner, kind=kind).order_by("-created_at")[:limit])


# --- Progress: how long it has taken, and how long such a video usually takes ------------

# Past runs the estimate is made from, and how long one estimate is kept.
TYPICAL_RUNS = 20
TYPICAL_CACHE_SECONDS = 120


def generation_typical_seconds(
    *, model_key: str, resolution: str, duration: int | None
) -> float | None:
    """How long the provider usually takes for this model, resolution and duration: the median
    from submit to stored video over the last successful runs (None before there are any).
    Kept in the shared cache for a while: it changes slowly, and every progress view asks."""
    key = f"generation-typical:{model_key}:{resolution}:{duration}"
    cached = cache.get(key)
    if cached is not None:
        return cached if cached >= 0 else None
    runs = list(
        Generation.objects.filter(
            model_key=model_key,
            resolution=resolution,
            duration=duration,
            state=Generation.State.SUCCEEDED,
            submitted_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("submitted_at", "finished_at")[:TYPICAL_RUNS]
    )
    seconds = [
        (done - sent).total_seconds() for sent, done in runs if sent and done and done >= sent
    ]
    typical = statistics.median(seconds) if seconds else None
    cache.set(key, -1.0 if typical is None else typical, TYPICAL_CACHE_SECONDS)
    return typical


def _clock(seconds: float) -> str:
    """0:42, 3:05, 1:02:03."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _about(seconds: float) -> str:
    """A rough duration for an estimate: "about 40 s", "about 3 min"."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    return f"about {round(seconds / 60)} min"


@dataclass(frozen=True)
class Progress:
    """What the person is shown about an unfinished generation."""

    label: str  # what is happening, in words
    percent: int | None  # the provider's progress, when it reports one
    elapsed: str  # since it was made, as a clock
    estimate: str  # from past runs: "about 40 s left", "usually about 3 min", or ""


def generation_progress(generation: Generation, *, waiting_detail: bool = False) -> Progress:
    """State, progress, elapsed time and an estimate from past runs of the same model,
    resolution and duration. `waiting_detail` also says why a pending one waits (a query or
    two more: the generation page, not every card)."""
    State = Generation.State
    now = timezone.now()
    doings: dict[str, str] = {
        State.PENDING: "waiting to be sent",
        State.SUBMITTING: "sending to the provider",
        State.QUEUED: "at the provider",
        State.RUNNING: "making the video",
    }
    doing = doings.get(generation.state, "")
    if generation.state == State.RUNNING and generation.result_url:
        doing = "saving the video"
    if generation.state == State.PENDING:
        held = _held_label(generation, now=now)
        if held:
            doing = held
        elif waiting_detail:
            doing = _waiting_label(generation) or doing
    label = generation.get_state_display() + (f" · {doing}" if doing else "")
    typical = generation_typical_seconds(
        model_key=generation.model_key,
        resolution=generation.resolution,
        duration=generation.duration,
    )
    estimate = ""
    if typical is not None:
        if generation.submitted_at is None:
            estimate = f"usually {_about(typical)} once sent"
        else:
            left = typical - (now - generation.submitted_at).total_seconds()
            estimate = f"{_about(left)} left" if left > 0 else "taking longer than usual"
    return Progress(
        label=label,
        percent=generation.progress if generation.state == State.RUNNING else None,
        elapsed=_clock((now - generation.created_at).total_seconds()),
        estimate=estimate,
    )


def _clock_time(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S")


def _held_label(generation: Generation, *, now: datetime) -> str:
    """Why a pending generation is held back and when it will be tried again: the provider
    asked the studio to wait (a 429 with Retry-After), or the provider is paused."""
    from .services import DISPATCH_RETRY_SECONDS

    asked = generation.dispatch_requested_at
    if asked is not None and asked > now:
        at = asked + timedelta(seconds=DISPATCH_RETRY_SECONDS)
        return f"the provider asked to wait; next try at {_clock_time(at)}"
    for state in breakers_paused(providers=[generation.provider]):
        if state.is_open() and state.open_until is not None:
            name = PROVIDER_NAMES.get(generation.provider, generation.provider)
            at = datetime.fromtimestamp(state.open_until, tz=UTC)
            return f"{name} is paused; next try at {_clock_time(at)}"
    return ""


def _waiting_label(generation: Generation) -> str:
    from django.conf import settings

    paused = {state.provider for state in breakers_paused(providers=[generation.provider])}
    if generation.provider in paused:
        name = PROVIDER_NAMES.get(generation.provider, generation.provider)
        return f"waiting: {name} is not answering right now"
    limit = settings.STUDIO_MAX_IN_FLIGHT_PER_USER
    if limit and generations_in_flight_count(owner_id=generation.owner_id) >= limit:
        return f"waiting for a free slot ({limit} of yours at the provider)"
    return ""


# A generation that ended longer ago than this is old news: no notice for it.
NOTICE_WINDOW = timedelta(minutes=30)


NOTICES_LISTED = 8  # the header's list of recent endings


def generation_notices_for(*, viewer: User, exclude: str = "") -> tuple[list[Generation], bool]:
    """The viewer's own generations that ended in the last NOTICE_WINDOW (newest first, at most
    NOTICES_LISTED; a cancelled one is the viewer's own doing), and whether any of theirs but
    `exclude` (the generation whose page is open) is still unfinished. One query: every page
    of the studio asks."""
    State = Generation.State
    ended = (State.SUCCEEDED, State.FAILED, State.EXPIRED)
    unfinished = [state for state in State.values if state not in Generation.FINAL_STATES]
    rows = (
        Generation.objects.filter(owner=viewer, deleted_at__isnull=True)
        .only("id", "state", "prompt", "finished_at")
        .order_by()  # the halves of a union are not ordered; the whole is
    )
    # Two halves joined in one query, each a short range of the index generation_owner_ended
    # (as one OR, the database reads every generation of the person).
    recent = rows.filter(state__in=ended, finished_at__gte=timezone.now() - NOTICE_WINDOW)
    pending = rows.filter(state__in=unfinished)
    # The ended ones first, newest first; then (finished_at empty) two unfinished, if any: one
    # may be `exclude`.
    found = list(
        recent.union(pending, all=True).order_by(F("finished_at").desc(nulls_last=True))[
            : NOTICES_LISTED + 2
        ]
    )
    finished = [g for g in found if g.state in ended][:NOTICES_LISTED]
    # Past NOTICES_LISTED ended ones, an unfinished one would not show here: keep asking.
    any_unfinished = (
        len(finished) == NOTICES_LISTED
        and len(found) > NOTICES_LISTED
        or any(g.state in unfinished and str(g.id) != exclude for g in found)
    )
    return finished, any_unfinished


def generations_health() -> dict[str, Any]:
    """How the lifecycle is doing, for /healthz and operators: counts only, nothing private.

    `lost_24h` are generations failed (and refunded) in the last day because a submit's answer
    never came back (a worker died mid-submit, or the provider did not answer): counted apart
    from `failed_24h`, the real failures. `overdue_seconds` is how late the most overdue
    status read is: large only when nothing follows the generations in flight.
    """
    now = timezone.now()
    since = now - timedelta(hours=24)
    failed = Generation.objects.filter(state=Generation.State.FAILED, finished_at__gte=since)
    lost = failed.filter(error_kind=Generation.ErrorKind.LOST).count()
    due = (
        Generation.objects.filter(
            state__in=(Generation.State.QUEUED, Generation.State.RUNNING),
            result_url="",
            next_poll_at__lte=now,
        )
        .order_by("next_poll_at")
        .values_list("next_poll_at", flat=True)
        .first()
    )
    lease = TrackerLease.objects.filter(name="tracker", expires_at__gte=now).exists()
    return {
        "in_flight": Generation.objects.filter(state__in=Generation.AT_PROVIDER_STATES).count(),
        "waiting": Generation.objects.filter(state=Generation.State.PENDING).count(),
        "tracker_running": lease,
        "overdue_seconds": round((now - due).total_seconds(), 1) if due else 0.0,
        "failed_24h": failed.count() - lost,
        "lost_24h": lost,
    }


def generations_in_flight_count(*, owner_id: int) -> int:
    return Generation.objects.filter(
        owner_id=owner_id, state__in=Generation.AT_PROVIDER_STATES
    ).count()


# --- Which models are offered, and which providers are paused -----------------------------


def catalog_models_available() -> dict[str, CatalogModel]:
    """The catalog without the models an admin switched off, in picker order.

    The create page, creation itself and the API offer and accept only these.
    """
    switched_off = set(
        ModelAvailability.objects.filter(enabled=False).values_list("key", flat=True)
    )
    return {key: model for key, model in catalog().items() if key not in switched_off}


def catalog_model_available(*, key: str) -> bool:
    """Whether `key` is in the catalog and not switched off."""
    if key not in catalog():
        return False
    return not ModelAvailability.objects.filter(key=key, enabled=False).exists()


def providers_paused() -> list[dict[str, Any]]:
    """Providers whose circuit breaker holds new work back: [{provider, name, seconds_left}]."""
    providers = sorted({model.provider for model in catalog().values()})
    return [
        {
            "provider": state.provider,
            "name": PROVIDER_NAMES.get(state.provider, state.provider),
            "seconds_left": round(state.seconds_left()),
        }
        for state in breakers_paused(providers=providers)
    ]
