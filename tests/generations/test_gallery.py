"""The personal gallery: cards, filters, order, keyset pages, htmx fragments, cached cards."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Team
from generations.models import Favourite, Generation
from tests.factories import make_generation, make_team, make_user

pytestmark = pytest.mark.django_db

NEXT = re.compile(r'<a rel="next" href="([^"]+)"')
CARD_ID = re.compile(r'<div class="card-body" id="card-([0-9a-f-]{36})"')


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def card_ids(response) -> list[str]:
    return CARD_ID.findall(response.content.decode())


def next_link(response) -> str | None:
    match = NEXT.search(response.content.decode())
    return html.unescape(match.group(1)) if match else None


def seed(user, count: int) -> list[Generation]:
    call_command(
        "seed_gallery", user=user.username, count=count, random_seed=3, stdout=io.StringIO()
    )
    return list(Generation.objects.filter(owner=user).order_by("-created_at", "-id"))


def test_cards_show_poster_a_muted_preview_and_what_was_asked(signed_in, user):
    generation = make_generation(owner=user, prompt="A red fox in the snow")
    page = signed_in.get("/gallery/")
    text = page.content.decode()
    assert page.status_code == 200
    assert card_ids(page) == [str(generation.id)]
    assert f'src="/generations/{generation.id}/poster/"' in text
    video = re.search(r"<video [^>]*>", text).group(0)
    assert f'src="/generations/{generation.id}/video/"' in video
    assert "muted" in video and 'preload="none"' in video and "playsinline" in video
    assert "A red fox in the snow" in text
    assert f'href="/generations/{generation.id}/"' in text
    assert "gallery.js" in text


def test_unfinished_cards_show_their_state_and_progress_and_refresh_themselves(signed_in, user):
    running = make_generation(owner=user, state="running")
    Generation.objects.filter(pk=running.pk).update(progress=40)
    page = signed_in.get("/gallery/").content.decode()
    body = page[page.index(f'id="card-{running.id}"') - 40 :]
    body = body[: body.index("</div>\n")]
    assert "Running" in body
    assert '<progress max="100" value="40"' in body
    assert f'hx-get="/generations/{running.id}/card/"' in body and "load delay" in body

    Generation.objects.filter(pk=running.pk).update(progress=75)
    fragment = signed_in.get(f"/generations/{running.id}/card/").content.decode()
    assert 'value="75"' in fragment and "hx-trigger" in fragment


def test_a_finished_card_stops_refreshing(signed_in, user):
    done = make_generation(owner=user, state="failed")
    fragment = signed_in.get(f"/generations/{done.id}/card/").content.decode()
    assert "Failed" in fragment and "hx-trigger" not in fragment


def test_the_gallery_shows_only_the_viewers_own_work(signed_in, user, other_user):
    mine = make_generation(owner=user)
    make_generation(owner=other_user, prompt="Not yours")
    page = signed_in.get("/gallery/")
    assert card_ids(page) == [str(mine.id)]
    assert "Not yours" not in page.content.decode()


def test_deleted_generations_leave_the_gallery(signed_in, user):
    kept, gone = make_generation(owner=user), make_generation(owner=user)
    Generation.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    assert card_ids(signed_in.get("/gallery/")) == [str(kept.id)]


def test_pages_follow_each_other_by_keyset_without_gaps_or_repeats(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 7
    expected = [str(g.id) for g in seed(user, 30)]
    seen, url, pages = [], "/gallery/", 0
    while url:
        response = signed_in.get(url)
        seen += card_ids(response)
        url = next_link(response)
        pages += 1
        if url:
            assert "after=" in url
    assert seen == expected
    assert pages == 5


def test_equal_creation_times_still_page_without_repeats(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 4
    seed(user, 10)
    same = timezone.now() - timedelta(days=1)
    Generation.objects.filter(owner=user).update(created_at=same)
    expected = [str(pk) for pk in Generation.objects.order_by("-id").values_list("id", flat=True)]
    seen, url = [], "/gallery/"
    while url:
        response = signed_in.get(url)
        seen += card_ids(response)
        url = next_link(response)
    assert seen == expected


def test_oldest_first_pages_the_other_way(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 6
    expected = [str(g.id) for g in reversed(seed(user, 14))]
    seen, url = [], "/gallery/?sort=oldest"
    while url:
        response = signed_in.get(url)
        seen += card_ids(response)
        url = next_link(response)
        assert url is None or "sort=oldest" in url
    assert seen == expected


def test_favourites_first_puts_the_viewers_favourites_ahead_across_pages(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 4
    generations = seed(user, 11)
    favourites = [generations[3], generations[6], generations[7], generations[10], generations[1]]
    Favourite.objects.bulk_create([Favourite(user=user, generation=g) for g in favourites])
    order = sorted(favourites, key=lambda g: (g.created_at, g.id), reverse=True)
    rest = [g for g in generations if g not in favourites]
    seen, url = [], "/gallery/?sort=favourites"
    while url:
        response = signed_in.get(url)
        seen += card_ids(response)
        url = next_link(response)
    assert seen == [str(g.id) for g in order + rest]


def test_filters_narrow_the_grid_and_are_kept_in_the_next_link(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 3
    matching = [
        make_generation(owner=user, model_key="wan-2.6-flash", resolution="1080p", duration=10)
        for _ in range(4)
    ]
    make_generation(owner=user, model_key="wan-2.6-flash", resolution="720p", duration=10)
    make_generation(owner=user, model_key="wan2.6-i2v-flash", resolution="1080P", duration=10)
    make_generation(owner=user, model_key="wan-2.6-flash", resolution="1080p", duration=5)
    url = "/gallery/?model=wan-2.6-flash&resolution=1080p&duration=10"
    first = signed_in.get(url)
    link = next_link(first)
    assert "model=wan-2.6-flash" in link and "resolution=1080p" in link and "duration=10" in link
    seen = card_ids(first) + card_ids(signed_in.get(link))
    assert sorted(seen) == sorted(str(g.id) for g in matching)


def test_state_filter_accepts_one_or_several_states(signed_in, user):
    done = make_generation(owner=user)
    failed = make_generation(owner=user, state="failed")
    running = make_generation(owner=user, state="running")
    assert card_ids(signed_in.get("/gallery/?state=failed")) == [str(failed.id)]
    both = card_ids(signed_in.get("/gallery/?state=failed&state=running"))
    assert sorted(both) == sorted([str(failed.id), str(running.id)])
    assert str(done.id) not in both


def test_favourites_filter_shows_only_the_viewers_favourites(signed_in, user):
    liked, other = make_generation(owner=user), make_generation(owner=user)
    Favourite.objects.create(user=user, generation=liked)
    assert card_ids(signed_in.get("/gallery/?favourites=1")) == [str(liked.id)]
    assert str(other.id) in card_ids(signed_in.get("/gallery/"))


def test_date_filters_include_whole_days(signed_in, user):
    old, middle, new = (make_generation(owner=user) for _ in range(3))
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    for generation, days in ((old, 10), (middle, 5), (new, 1)):
        Generation.objects.filter(pk=generation.pk).update(
            created_at=now - timedelta(days=days, hours=11, minutes=59)
        )
    day = (now - timedelta(days=5)).date()
    assert card_ids(signed_in.get(f"/gallery/?from={day}&to={day}")) == [str(middle.id)]
    since = (now - timedelta(days=6)).date()
    assert card_ids(signed_in.get(f"/gallery/?from={since}")) == [str(new.id), str(middle.id)]
    # Swapped bounds are read the right way round.
    until = (now - timedelta(days=2)).date()
    assert card_ids(signed_in.get(f"/gallery/?from={until}&to={since}")) == [str(middle.id)]


def test_team_filter_shows_the_viewers_work_for_that_team(signed_in, user):
    team = make_team(slug="blue", members=[user])
    for_team = make_generation(owner=user, team=team)
    make_generation(owner=user)
    page = signed_in.get("/gallery/?team=blue")
    assert card_ids(page) == [str(for_team.id)]
    assert '<option value="blue" selected>Blue</option>' in page.content.decode()


def test_a_team_the_viewer_is_not_in_is_not_a_filter_choice(signed_in, user):
    Team.objects.create(name="Red", slug="red")
    make_generation(owner=user)
    page = signed_in.get("/gallery/?team=red")
    text = page.content.decode()
    assert "team: &#x27;red&#x27; is not one of the choices" in text
    assert len(card_ids(page)) == 1


def test_invalid_parameters_are_reported_and_left_out(signed_in, user):
    make_generation(owner=user)
    page = signed_in.get("/gallery/?state=bogus&from=yesterday&sort=random&after=garbage")
    text = page.content.decode()
    assert page.status_code == 200
    for problem in ("state:", "from:", "sort:", "after:"):
        assert problem in text
    assert len(card_ids(page)) == 1


def test_the_filter_form_shows_the_chosen_values(signed_in, user):
    make_generation(owner=user)
    text = signed_in.get(
        "/gallery/?q=fox&model=wan-2.6-flash&sort=oldest&favourites=1&from=2025-01-02"
    ).content.decode()
    assert 'name="q" value="fox"' in text
    assert '<option value="wan-2.6-flash" selected>' in text
    assert '<option value="oldest" selected>' in text
    assert 'name="favourites" value="1" checked' in text
    assert 'name="from" value="2025-01-02"' in text
    # The choices come from the catalog.
    assert (
        '<option value="1080p">1080p</option>' in text
        and '<option value="15">15 s</option>' in text
    )


def test_htmx_filter_changes_get_only_the_grid(signed_in, user):
    make_generation(owner=user, prompt="Only the grid")
    response = signed_in.get(
        "/gallery/?state=succeeded", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery-results"
    )
    text = response.content.decode()
    assert text.lstrip().startswith('<section id="gallery-results"')
    assert "<html" not in text and 'class="gallery-filters"' not in text
    assert "Only the grid" in text
    assert "HX-Request" in response["Vary"]
    # The address bar gets the short form of the filters, not every field of the form.
    assert response["HX-Push-Url"] == "/gallery/?state=succeeded"
    everything = signed_in.get(
        "/gallery/?q=&state=&model=&sort=newest",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
    )
    assert everything["HX-Push-Url"] == "/gallery/"


def test_infinite_scroll_gets_the_next_cards_and_a_new_sentinel(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 3
    seed(user, 8)
    link = next_link(signed_in.get("/gallery/"))
    response = signed_in.get(link, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery-next")
    text = response.content.decode()
    assert "<section" not in text and "<html" not in text
    assert len(card_ids(response)) == 3
    sentinel = re.search(r'<li class="gallery-next" id="gallery-next"[^>]*>', text).group(0)
    assert 'hx-trigger="revealed"' in sentinel and 'hx-swap="outerHTML"' in sentinel
    assert html.unescape(re.search(r'hx-get="([^"]+)"', sentinel).group(1)) == next_link(response)


def test_a_history_restore_gets_the_whole_page(signed_in, user):
    make_generation(owner=user)
    response = signed_in.get(
        "/gallery/?sort=oldest",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in response.content.decode()


def test_the_filter_form_updates_the_grid_and_pushes_the_url(signed_in, user):
    make_generation(owner=user)
    text = signed_in.get("/gallery/").content.decode()
    form = re.search(r'<form class="gallery-filters"[^>]*>', text, re.S).group(0)
    assert 'method="get"' in form and 'action="/gallery/"' in form
    assert 'hx-get="/gallery/"' in form and 'hx-target="#gallery-results"' in form
    assert 'hx-push-url="true"' in form


def test_empty_states_say_why(signed_in, user):
    assert "Make your first video" in signed_in.get("/gallery/").content.decode()
    make_generation(owner=user)
    assert "No videos match" in signed_in.get("/gallery/?state=failed").content.decode()


@pytest.mark.services
def test_the_query_count_does_not_grow_with_the_page_size(signed_in, user, settings):
    seed(user, 60)
    counts = {}
    for size in (5, 20, 50):
        settings.STUDIO_GALLERY_PAGE_SIZE = size
        for query in ("", "?q=fox", "?state=succeeded&sort=favourites"):
            signed_in.get(f"/gallery/{query}")  # fill the card cache, as in steady use
            with CaptureQueriesContext(connection) as captured:
                response = signed_in.get(f"/gallery/{query}")
            assert response.status_code == 200
            counts[(size, query)] = len(captured)
    assert len({count for (size, query), count in counts.items() if query == ""}) == 1
    assert len(set(counts.values())) == 1, counts


@pytest.mark.services
def test_a_cold_cache_costs_one_more_read_not_one_per_card(signed_in, user, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 20
    seed(user, 20)
    signed_in.get("/gallery/")
    with CaptureQueriesContext(connection) as warm:
        signed_in.get("/gallery/")
    cache.clear()
    with CaptureQueriesContext(connection) as cold:
        signed_in.get("/gallery/")
    reads = [q["sql"] for q in cold if "generations_generation" in q["sql"]]
    # The page, then what its cards show; and on every page the notices region's one read
    # (generations that ended while their maker was elsewhere: generations/notices.py).
    assert len(reads) == 3
    assert len([q for q in warm if "generations_generation" in q["sql"]]) == 2


def test_unfinished_cards_amid_cached_ones_keep_their_place_and_show_fresh_progress(
    signed_in, user, settings
):
    settings.STUDIO_GALLERY_PAGE_SIZE = 10
    seeded = seed(user, 8)  # newest first
    running = make_generation(owner=user, state="running", progress=10)
    # In the middle of the page: created between the fourth and fifth newest.
    Generation.objects.filter(pk=running.id).update(
        created_at=seeded[3].created_at - timedelta(microseconds=1)
    )
    expected = [str(g.id) for g in seeded[:4]] + [str(running.id)]
    expected += [str(g.id) for g in seeded[4:]]

    assert card_ids(signed_in.get("/gallery/")) == expected
    Generation.objects.filter(pk=running.id).update(progress=70)  # updated_at stays
    with CaptureQueriesContext(connection) as captured:
        again = signed_in.get("/gallery/")
    assert card_ids(again) == expected
    assert '<progress max="100" value="70"' in again.content.decode()
    if "DatabaseCache" in settings.CACHES["default"]["BACKEND"]:
        # The runs of finished cards on both sides came from the cache in one read.
        reads = [q for q in captured if "gallery-grid" in q["sql"]]
        assert len(reads) == 1, [q["sql"] for q in reads]


def test_a_cached_card_changes_when_its_generation_changes(signed_in, user):
    team = make_team(slug="green", members=[user])
    generation = make_generation(owner=user)
    assert "card-team" not in signed_in.get("/gallery/").content.decode()
    signed_in.post("/gallery/bulk/", {"action": "share", "team": "green", "ids": [generation.id]})
    assert '<span class="card-team">Green</span>' in signed_in.get("/gallery/").content.decode()
    Team.objects.filter(pk=team.pk).update(name="Teal")
    assert '<span class="card-team">Teal</span>' in signed_in.get("/gallery/").content.decode()


def test_a_favourite_shows_on_its_card_for_that_viewer_only(client, signed_in, user):
    teammate = make_user(username="teammate")
    team = make_team(slug="shared", members=[user, teammate])
    generation = make_generation(owner=user, team=team)
    signed_in.get("/gallery/")
    signed_in.post(f"/generations/{generation.id}/favourite/", {"on": "1"})
    mine = signed_in.get("/gallery/").content.decode()
    assert 'aria-pressed="true"' in mine and "is-favourite" in mine
    client.force_login(teammate)
    assert Favourite.objects.filter(user=teammate).count() == 0
    assert generation_visible_favourite(client, generation) is False


def generation_visible_favourite(client, generation) -> bool:
    text = client.get(f"/generations/{generation.id}/").content.decode()
    button = re.search(r'<button type="submit" class="favourite-button"[^>]*>', text).group(0)
    return 'aria-pressed="true"' in button


def test_pages_carry_no_inline_script_so_a_strict_csp_holds(signed_in, user):
    generation = make_generation(owner=user)
    for url in ("/gallery/", f"/generations/{generation.id}/"):
        text = signed_in.get(url).content.decode()
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag, tag
        assert not re.search(r"<script[^>]*>[^<\s]", text)
        assert not re.search(r"\son[a-z]+\s*=", text), url
        assert "hx-on" not in text and "js:" not in text
