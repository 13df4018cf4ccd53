"""The gallery's query language and its cards.

Query parameters (shareable; each page's `next` link keeps them): `state` (repeatable), `model`,
`resolution`, `duration`, `team` (a slug), `favourites`, `from` and `to` (dates, inclusive), `q`
(search), `sort` (`newest`, `oldest`, `favourites`) and `after` (the keyset cursor of the next
page). Anything invalid is dropped and reported, never an error page.

Cards of finished generations are rendered once and kept in the shared cache under a key made
of the generation's id and `updated_at` (every change bumps it, so a change is a new key) and a
digest of the card template; per-viewer parts (favourite, selection) stay outside the fragment.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from django.core.cache import cache as shared_cache
from django.http import QueryDict
from django.template.loader import get_template
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .catalog import catalog
from .models import Generation

PAGE_SIZE = 24
MAX_QUERY_LENGTH = 200
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "favourites": "Favourites first"}
CARD_TEMPLATE = "generations/components/card.html"
GRID_TEMPLATE = "generations/gallery.html"
CARD_CACHE_SECONDS = 7 * 24 * 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GalleryFilters:
    """What a gallery shows and in which order; the empty value shows everything, newest first."""

    states: tuple[str, ...] = ()
    model: str = ""
    resolution: str = ""
    duration: int | None = None
    team: str = ""
    favourites: bool = False
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    sort: str = "newest"
    batch: str = ""  # a batch's id: only its members

    def params(self) -> list[tuple[str, str]]:
        """The canonical query parameters for these filters (defaults left out)."""
        pairs: list[tuple[str, str]] = [("state", state) for state in self.states]
        for name, value in (
            ("model", self.model),
            ("resolution", self.resolution),
            ("duration", "" if self.duration is None else str(self.duration)),
            ("team", self.team),
            ("favourites", "1" if self.favourites else ""),
            ("from", self.date_from.isoformat() if self.date_from else ""),
            ("to", self.date_to.isoformat() if self.date_to else ""),
            ("q", self.q),
            ("batch", self.batch),
            ("sort", "" if self.sort == "newest" else self.sort),
        ):
            if value:
                pairs.append((name, value))
        return pairs

    def query_string(self, *, after: str = "") -> str:
        query = QueryDict(mutable=True)
        for name, value in self.params():
            query.appendlist(name, value)
        if after:
            query["after"] = after
        return query.urlencode()

    @property
    def refined(self) -> int:
        """How many of the finer filters (all but search, favourites and order) are chosen."""
        chosen = (
            self.states,
            self.model,
            self.resolution,
            self.duration is not None,
            self.team,
            self.date_from,
            self.date_to,
        )
        return sum(1 for value in chosen if value)

    @property
    def narrowed(self) -> bool:
        """True when something other than the order is chosen."""
        return any(name != "sort" for name, _ in self.params())


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: just after this card in the chosen order (keyset)."""

    created_at: datetime
    id: uuid.UUID
    favourite: bool | None = None  # only for sort=favourites

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        head = "" if self.favourite is None else ("f" if self.favourite else "n")
        return f"{head}{micros}.{self.id.hex}"

    @classmethod
    def decode(cls, text: str, *, sort: str) -> Cursor | None:
        """The cursor in `text`, or None when it is not one for this sort."""
        favourite = None
        if sort == "favourites":
            if text[:1] not in ("f", "n"):
                return None
            favourite, text = text[0] == "f", text[1:]
        micros, _, key = text.partition(".")
        try:
            return cls(
                created_at=_EPOCH + timedelta(microseconds=int(micros)),
                id=uuid.UUID(hex=key),
                favourite=favourite,
            )
        except (ValueError, OverflowError):
            return None

    @classmethod
    def after(cls, generation: Generation, *, sort: str) -> Cursor:
        favourite = (
            bool(getattr(generation, "is_favourite", False)) if sort == "favourites" else None
        )
        return cls(created_at=generation.created_at, id=generation.id, favourite=favourite)


@dataclass(frozen=True)
class GalleryOptions:
    """The choices the filter controls offer."""

    states: list[tuple[str, str]]
    models: list[tuple[str, str]]
    resolutions: list[str]
    durations: list[int]
    teams: list[tuple[str, str]]  # (slug, name)
    sorts: list[tuple[str, str]] = field(default_factory=lambda: list(SORTS.items()))


def gallery_options(*, teams: Iterable[Any] = ()) -> GalleryOptions:
    """Filter choices from the catalog (never a second list of models or values) and the teams."""
    models = list(catalog().values())
    resolutions: list[str] = []
    durations: set[int] = set()
    for model in models:
        spec = model.field_for_role("resolution")
        for value in spec.option_values if spec else ():
            if str(value).lower() not in resolutions:
                resolutions.append(str(value).lower())
        spec = model.field_for_role("duration")
        if spec is not None:
            if spec.options:
                durations.update(int(value) for value in spec.option_values)
            elif spec.min is not None and spec.max is not None:
                durations.update(range(int(spec.min), int(spec.max) + 1))
    return GalleryOptions(
        states=list(Generation.State.choices),
        models=[(model.key, model.name) for model in models],
        resolutions=resolutions,
        durations=sorted(durations),
        teams=[(team.slug, team.name) for team in teams],
    )


@dataclass(frozen=True)
class GalleryQuery:
    """A gallery request's query string, understood: filters, cursor, and what was left out."""

    filters: GalleryFilters
    after: Cursor | None
    problems: list[str]


def _one_of(query: QueryDict, name: str, allowed: Iterable[str], problems: list[str]) -> str:
    value = query.get(name, "").strip()
    if value and value not in allowed:
        problems.append(f"{name}: {value!r} is not one of the choices")
        return ""
    return value


def _date(query: QueryDict, name: str, problems: list[str]) -> date | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{name}: {value!r} is not a date (YYYY-MM-DD)")
        return None


def gallery_query_parse(query: QueryDict, *, options: GalleryOptions) -> GalleryQuery:
    """Read the gallery's query parameters, keeping what is valid for these options.

    Plain code rather than a Form: it runs on every gallery request and must stay cheap.
    """
    problems: list[str] = []
    states = {value for value, _ in options.states}
    chosen_states = []
    for value in query.getlist("state"):
        value = value.strip()
        if value in states and value not in chosen_states:
            chosen_states.append(value)
        elif value:
            problems.append(f"state: {value!r} is not a state")
    duration_text = _one_of(query, "duration", [str(d) for d in options.durations], problems)
    date_from, date_to = _date(query, "from", problems), _date(query, "to", problems)
    if date_from and date_to and date_to < date_from:
        date_from, date_to = date_to, date_from
    text = query.get("q", "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        problems.append(f"q: longer than {MAX_QUERY_LENGTH} characters; cut")
        text = text[:MAX_QUERY_LENGTH]
    filters = GalleryFilters(
        states=tuple(chosen_states),
        model=_one_of(query, "model", [key for key, _ in options.models], problems),
        resolution=_one_of(query, "resolution", options.resolutions, problems),
        duration=int(duration_text) if duration_text else None,
        team=_one_of(query, "team", [slug for slug, _ in options.teams], problems),
        favourites=query.get("favourites", "") in ("1", "on", "true", "yes"),
        date_from=date_from,
        date_to=date_to,
        q=text,
        sort=_one_of(query, "sort", SORTS, problems) or "newest",
        batch=_batch_id(query, problems),
    )
    after = None
    token = query.get("after", "")
    if token:
        after = Cursor.decode(token[:80], sort=filters.sort)
        if after is None:
            problems.append("after: not a valid page link; showing the first page")
    return GalleryQuery(filters=filters, after=after, problems=problems)


def _batch_id(query: QueryDict, problems: list[str]) -> str:
    raw = query.get("batch", "").strip()
    if not raw:
        return ""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        problems.append(f"batch: {raw[:40]!r} is not a batch")
        return ""


def _options_html(choices: Iterable[tuple[Any, Any]], chosen: Iterable[Any]) -> SafeString:
    selected = {str(value) for value in chosen}
    # Built with escape() and one join (not a template loop): it runs for every gallery page.
    return mark_safe(
        "".join(
            f'<option value="{escape(value)}"'
            f"{' selected' if str(value) in selected else ''}>{escape(label)}</option>"
            for value, label in choices
        )
    )


def filter_controls(options: GalleryOptions, filters: GalleryFilters) -> dict[str, SafeString]:
    """The <option>s of each filter select with the chosen ones marked, built in one pass each."""
    return {
        "state": _options_html(options.states, filters.states),
        "model": _options_html(options.models, [filters.model]),
        "resolution": _options_html([(r, r) for r in options.resolutions], [filters.resolution]),
        "duration": _options_html([(d, f"{d} s") for d in options.durations], [filters.duration]),
        "team": _options_html(options.teams, [filters.team]),
        "team_share": _options_html(options.teams, []),
        "sort": _options_html(options.sorts, [filters.sort]),
    }


# --- Cards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """One generation in a grid: its cached body and the viewer's own marks."""

    id: str
    body: SafeString
    favourite: bool
    favourite_url: str


@cache
def _url_around_id(name: str) -> tuple[str, str]:
    """The parts of a per-generation URL around its id: one reverse() per process, not per card."""
    marker = str(uuid.UUID(int=0))
    head, _, tail = reverse(name, args=[marker]).partition(marker)
    return head, tail


def generation_url(name: str, generation_id: uuid.UUID | str) -> str:
    """reverse(name, args=[generation_id]) for the generations URLs that take only an id."""
    head, tail = _url_around_id(name)
    return f"{head}{generation_id}{tail}"


@cache
def _template_digest(name: str) -> str:
    """A digest of a template's source: a new deployment's markup never meets old fragments."""
    source = get_template(name).template.source  # type: ignore[attr-defined]  # Django's backend
    return hashlib.sha256(source.encode()).hexdigest()[:10]


def card_cache_key(
    *, id: uuid.UUID, updated_at: datetime, team_id: int | None, team_name: str | None
) -> str:
    """Changes whenever the generation (its `updated_at`), its team's name or the template do."""
    stamp = (updated_at - _EPOCH) // timedelta(microseconds=1)
    digest = hashlib.sha256(f"{stamp}|{team_id}|{team_name or ''}".encode()).hexdigest()[:12]
    return f"gallery-card:{_template_digest(CARD_TEMPLATE)}:{id.hex}:{digest}"


def _key_of(generation: Generation) -> str:
    return card_cache_key(
        id=generation.id,
        updated_at=generation.updated_at,
        team_id=generation.team_id,
        team_name=generation.team.name if generation.team is not None else None,
    )


def card_body_render(generation: Generation, *, quiet: bool = False) -> SafeString:
    """The shared, viewer-independent body of a generation's card (never cached here). An
    unfinished card asks for itself again, unless `quiet` (a page that renews all its cards
    with one request per tick, as the batch page does)."""
    from .selectors import generation_progress

    names = {key: model.name for key, model in catalog().items()}
    context = {
        "generation": generation,
        "model_name": names.get(generation.model_key, ""),
        "quiet": quiet,
    }
    if not generation.is_final:
        context["progress"] = generation_progress(generation)
    html = get_template(CARD_TEMPLATE).render(context)
    return mark_safe(html)  # the template engine escaped what it rendered


def card_body(generation: Generation, *, quiet: bool = False) -> SafeString:
    """One card's body, from the shared cache when the generation is final."""
    if not generation.is_final:
        return card_body_render(generation, quiet=quiet)
    key = _key_of(generation)
    body = shared_cache.get(key)
    if body is None:
        body = card_body_render(generation)
        shared_cache.set(key, str(body), timeout=CARD_CACHE_SECONDS)
    return mark_safe(body)  # our own fragment, escaped when it was rendered


def gallery_cards(*, viewer: Any, entries: Sequence[Any]) -> list[Card]:
    """Cards for a page of `GalleryEntry`s: one cache read for all of them, and one query for
    whatever is not cached (unfinished generations, which change without touching `updated_at`,
    are always rendered fresh; there are few).
    """
    from .selectors import generations_for_cards

    keys = {
        entry.id: card_cache_key(
            id=entry.id,
            updated_at=entry.updated_at,
            team_id=entry.team_id,
            team_name=entry.team_name,
        )
        for entry in entries
        if entry.is_final
    }
    found = shared_cache.get_many(list(keys.values())) if keys else {}
    needed = [entry.id for entry in entries if keys.get(entry.id) not in found]
    generations = generations_for_cards(viewer=viewer, ids=needed) if needed else {}
    missing: dict[str, str] = {}
    cards = []
    for entry in entries:
        key = keys.get(entry.id)
        body = found.get(key) if key else None
        if body is None:
            generation = generations.get(entry.id)
            if generation is None:
                continue  # deleted between the two reads
            body = card_body_render(generation)
            if key:
                missing[key] = str(body)
        cards.append(
            Card(
                id=str(entry.id),
                body=mark_safe(body),  # our own fragment, escaped when it was rendered
                favourite=entry.is_favourite,
                favourite_url=generation_url("generations:favourite", entry.id),
            )
        )
    if missing:
        shared_cache.set_many(missing, timeout=CARD_CACHE_SECONDS)
    return cards


def _grid_key(entries: Sequence[Any]) -> str:
    """The cache key of a run of final cards: each card's key and the viewer's favourite mark,
    so it changes with any of them."""
    parts = [
        f"{entry.id.hex}:{(entry.updated_at - _EPOCH) // timedelta(microseconds=1)}:"
        f"{entry.team_id}:{entry.team_name or ''}:{int(entry.is_favourite)}"
        for entry in entries
    ]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    return (
        f"gallery-grid:{_template_digest(GRID_TEMPLATE)}:{_template_digest(CARD_TEMPLATE)}:{digest}"
    )


def gallery_grid(*, viewer: Any, entries: Sequence[Any]) -> SafeString:
    """The cards of a page as HTML, the viewer's marks included.

    The page is cut into runs of consecutive final cards and of unfinished ones. Each run of
    final cards is kept whole in the shared cache (`_grid_key`); unfinished cards are rendered
    every time, as they change without touching `updated_at`. One cache read finds the runs, and
    whatever is left is made by `gallery_cards` at once. The query that finds the page still runs
    every time (never a page by URL).
    """
    if not entries:
        return mark_safe("")
    runs: list[tuple[str | None, list[Any]]] = []  # (cache key or None, entries)
    for entry in entries:
        final = bool(entry.is_final)
        if runs and (runs[-1][0] is not None) == final:
            runs[-1][1].append(entry)
        else:
            runs.append(("" if final else None, [entry]))
    runs = [(_grid_key(run) if key is not None else None, run) for key, run in runs]
    keys = [key for key, _ in runs if key]
    found = shared_cache.get_many(keys) if keys else {}
    to_render = [entry for key, run in runs if key not in found for entry in run]
    cards = {card.id: card for card in gallery_cards(viewer=viewer, entries=to_render)}
    template = get_template(f"{GRID_TEMPLATE}#gallery-cards")
    pieces: list[str] = []
    made: dict[str, str] = {}
    for key, run in runs:
        if key and key in found:
            pieces.append(found[key])
            continue
        run_cards = [cards[str(entry.id)] for entry in run if str(entry.id) in cards]
        html = template.render({"cards": run_cards})
        if key and len(run_cards) == len(run):
            made[key] = html
        pieces.append(html)
    if made:
        shared_cache.set_many(made, timeout=CARD_CACHE_SECONDS)
    return mark_safe("".join(pieces))  # our own fragments, escaped when they were rendered
