"""What a person sees of a generation's life in the pages: its progress while it runs (state,
bar, elapsed time, an estimate from past runs), the page asking for updates only while it is
unfinished, and a notice elsewhere in the studio when it ends."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from generations.models import Generation
from tests.factories import make_generation, make_user
from tests.integration.lifecycle import visible_text

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_estimates():
    cache.clear()


@pytest.fixture
def user(db):
    """The person whose generations these are, with credits for a few of them."""
    return make_user(username="maker", credits=1000)


def _status(client, generation) -> str:
    """The status fragment the generation page asks for while it is unfinished."""
    response = client.get(f"/generations/{generation.id}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('<section id="generation-status"') : html.index("</section>") + 10]


def _past_run(owner, *, seconds: float, **values) -> Generation:
    done = make_generation(owner=owner, **values)
    finished = timezone.now() - timedelta(minutes=5)
    Generation.objects.filter(pk=done.id).update(
        submitted_at=finished - timedelta(seconds=seconds), finished_at=finished
    )
    return done


def _running(owner, *, progress: int | None, since: float, **values) -> Generation:
    generation = make_generation(owner=owner, state="running", **values)
    now = timezone.now()
    Generation.objects.filter(pk=generation.id).update(
        progress=progress,
        created_at=now - timedelta(seconds=since + 3),
        submitted_at=now - timedelta(seconds=since),
    )
    return Generation.objects.get(pk=generation.id)


def test_a_running_generation_shows_state_progress_elapsed_time_and_an_estimate(signed_in, user):
    # Past runs of the same model, resolution and duration took 50, 60 and 70 s; another
    # duration's runs say nothing about this one.
    for seconds in (50, 60, 70):
        _past_run(user, seconds=seconds, duration=5)
    _past_run(user, seconds=400, duration=10)
    generation = _running(user, progress=40, since=20, duration=5)

    status = _status(signed_in, generation)
    text = visible_text(status)

    assert "Running · making the video" in text
    assert '<progress max="100" value="40"' in status and "40 %" in text
    assert re.search(r"<time>0:2[3-5]</time> elapsed", status)
    assert "about 40 s left" in text  # 60 s usually, 20 s in
    assert 'hx-trigger="load delay:1s"' in status  # asks again while unfinished


def test_without_past_runs_or_progress_it_says_nothing_it_does_not_know(signed_in, user):
    generation = _running(user, progress=None, since=5)
    status = _status(signed_in, generation)
    assert "<progress " in status and "value=" not in status.split("<progress", 1)[1][:40]
    assert "left" not in visible_text(status) and "usually" not in visible_text(status)


def test_the_progress_markup_keeps_its_shape_as_it_updates(signed_in, user):
    """Nothing moves as the figures change: the same elements every second, each line there
    even while it is empty (CSS gives each its height)."""
    _past_run(user, seconds=60, duration=5)
    generation = _running(user, progress=None, since=1, duration=5)
    early = _status(signed_in, generation)
    Generation.objects.filter(pk=generation.id).update(progress=90)
    late = _status(signed_in, generation)

    def shape(html: str) -> list[str]:
        block = html[html.index('<span class="progress-block">') :]
        return re.findall(r"<(/?[a-z]+)(?: class=\"([^\"]*)\")?", block)

    assert shape(early) == shape(late)
    assert (
        '<span class="progress-estimate">' in early and '<span class="progress-percent">' in early
    )


def test_a_generation_waiting_for_a_slot_says_so(signed_in, user, settings):
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 1
    make_generation(owner=user, state="running")
    waiting = make_generation(owner=user, state="pending")
    text = visible_text(_status(signed_in, waiting))
    assert "Pending · waiting for a free slot (1 of yours at the provider)" in text
    assert "Cancel" in text


def test_a_finished_generation_stops_asking_and_says_why_it_failed_as_text(signed_in, user):
    failed = make_generation(owner=user, state="failed")
    Generation.objects.filter(pk=failed.id).update(
        error_message="The provider refused this request: <b>duration</b> is too long"
    )
    status = _status(signed_in, failed)
    assert "hx-trigger" not in status and "progress-block" not in status
    assert "&lt;b&gt;duration&lt;/b&gt; is too long" in status  # the provider's words, as text
    page = signed_in.get(f"/generations/{failed.id}/").content.decode()
    assert "Fix and try again" in page and "Try again" in page


def test_a_card_that_ended_without_a_video_says_why_in_a_few_words(signed_in, user):
    refused = make_generation(owner=user, state="failed")
    Generation.objects.filter(pk=refused.id).update(
        error_kind="refused", error_param="duration", error_message="duration must be 5 or 10"
    )
    broken = make_generation(owner=user, state="failed")
    Generation.objects.filter(pk=broken.id).update(error_kind="download")
    expired = make_generation(owner=user, state="expired")
    cancelled = make_generation(owner=user, state="cancelled")
    for generation, reason in [
        (refused, "Failed The provider refused the request (duration)"),
        (broken, "Failed The video could not be stored"),
        (expired, "Expired Took too long"),
    ]:
        card = signed_in.get(f"/generations/{generation.id}/card/").content.decode()
        assert reason in visible_text(card), generation.state
    card = signed_in.get(f"/generations/{cancelled.id}/card/").content.decode()
    assert "Cancelled" in visible_text(card) and "card-reason" not in card
    gallery = visible_text(signed_in.get("/gallery/").content.decode())
    assert "The provider refused the request (duration)" in gallery


def test_an_unfinished_gallery_card_shows_its_progress_too(signed_in, user):
    _past_run(user, seconds=60, duration=5)
    generation = _running(user, progress=75, since=30, duration=5)
    card = signed_in.get(f"/generations/{generation.id}/card/").content.decode()
    text = visible_text(card)
    assert "75 %" in text and "elapsed" in text and "about 30 s left" in text


# --- The notice elsewhere in the studio ---------------------------------------------------


def _region(html: str) -> str:
    start = html.index('<div id="generation-notices"')
    return html[start : html.index("</body>")]


def test_while_something_is_unfinished_every_page_asks_for_notices(signed_in, user):
    assert _region(signed_in.get("/gallery/").content.decode()).startswith(
        '<div id="generation-notices" class="generation-notices" aria-live="polite"></div>'
    )  # nothing unfinished, nothing ended: an empty region that asks nothing

    running = make_generation(owner=user, state="running")
    region = _region(signed_in.get("/account/").content.decode())
    assert 'hx-get="/generations/notices/"' in region and 'hx-trigger="load delay:5s"' in region
    assert "<script" not in region and not re.search(r"\son[a-z]+=|hx-on", region)

    # On the generation's own page the region leaves that one out (the page shows its end):
    # with nothing else unfinished it asks nothing; with another one it asks about that.
    own = _region(signed_in.get(f"/generations/{running.id}/").content.decode())
    assert "hx-get" not in own
    make_generation(owner=user, state="queued")
    own = _region(signed_in.get(f"/generations/{running.id}/").content.decode())
    assert f"/generations/notices/?exclude={running.id}" in own


def _toasts(html: str) -> str:
    region = _region(html)
    return region[: region.index('<span id="notice-poll"')]


def _header_list(html: str) -> str:
    return html[html.index('<div id="notice-items"') : html.index("</header>")]


def test_a_generation_that_ends_while_its_maker_is_elsewhere_brings_a_toast_once_then_a_list_entry(
    signed_in, user
):
    running = make_generation(owner=user, state="running", prompt="Foxes in the <snow>")
    assert "Your video is ready" not in signed_in.get("/generations/notices/").content.decode()

    Generation.objects.filter(pk=running.id).update(
        state="succeeded", finished_at=timezone.now(), video="results/x.mp4"
    )
    notice = signed_in.get("/generations/notices/").content.decode()

    assert "Your video is ready:" in visible_text(notice)
    assert f'<a href="/generations/{running.id}/">Foxes in the &lt;snow&gt;</a>' in notice
    assert 'class="toast toast-succeeded" data-toast' in notice
    # The poller is renewed without a question (nothing else unfinished) and the header's list
    # gets the ending too.
    assert '<span id="notice-poll" hidden hx-swap-oob="true"></span>' in notice
    assert 'id="notice-items" hx-swap-oob="true"' in notice
    # Shown once: the next page has no toast for it, but the header's list keeps it.
    page = signed_in.get("/gallery/").content.decode()
    assert "data-toast" not in _toasts(page)
    assert "Foxes in the &lt;snow&gt;" in _header_list(page)
    assert '<span class="notice-count" id="notice-count">1</span>' in page


def test_a_toast_can_be_dismissed_without_javascript_and_failures_are_told_too(signed_in, user):
    failed = make_generation(owner=user, state="failed")
    cancelled = make_generation(owner=user, state="cancelled")  # one's own doing: no notice
    notice = signed_in.get("/generations/notices/").content.decode()
    assert "It did not work out:" in visible_text(notice)
    assert str(cancelled.id) not in notice
    assert 'action="/generations/notices/dismiss/"' in notice and 'aria-label="Dismiss"' in notice

    response = signed_in.post(
        "/generations/notices/dismiss/", {"id": [failed.id], "next": "/account/"}
    )
    assert response.status_code == 303 and response["Location"] == "/account/"
    assert "data-toast" not in _toasts(signed_in.get("/gallery/").content.decode())


def test_at_most_three_toasts_and_the_rest_are_counted_under_notices(signed_in, user):
    for number in range(5):
        make_generation(owner=user, state="succeeded", prompt=f"Take {number}")
    page = signed_in.get("/account/").content.decode()
    toasts = _toasts(page)
    assert toasts.count("data-toast>") == 3
    assert "2 more under Notices" in visible_text(toasts)
    assert _header_list(page).count("<li>") == 5
    # All five count as seen: none comes back as a toast.
    assert "data-toast" not in _toasts(signed_in.get("/account/").content.decode())


def test_an_old_ending_or_someone_elses_brings_no_notice(signed_in, user):
    old = make_generation(owner=user, state="failed")
    Generation.objects.filter(pk=old.id).update(finished_at=timezone.now() - timedelta(hours=2))
    other = make_user(username="someone", credits=50)
    make_generation(owner=other, state="failed")
    notice = signed_in.get("/generations/notices/").content.decode()
    assert "data-toast" not in notice and "<li>" not in notice


def test_notices_are_the_newest_endings_and_asking_goes_on_while_one_is_unfinished(user):
    from generations.selectors import NOTICES_LISTED, generation_notices_for

    now = timezone.now()
    ended = []
    for minutes in range(NOTICES_LISTED + 1):  # one more than is listed
        generation = make_generation(owner=user, state="succeeded")
        Generation.objects.filter(pk=generation.id).update(
            finished_at=now - timedelta(minutes=minutes)
        )
        ended.append(generation)
    running = make_generation(owner=user, state="running")

    notices, asking = generation_notices_for(viewer=user)
    assert [g.id for g in notices] == [g.id for g in ended[:NOTICES_LISTED]]  # newest first
    assert asking
    # On the running one's own page, that one does not count (its page follows it).
    Generation.objects.filter(pk__in=[g.id for g in ended[:3]]).update(deleted_at=now)
    assert generation_notices_for(viewer=user, exclude=str(running.id)) == (ended[3:], False)
    assert generation_notices_for(viewer=user)[1]

    Generation.objects.filter(pk=running.id).update(state="cancelled", finished_at=now)
    notices, asking = generation_notices_for(viewer=user)
    assert [g.id for g in notices] == [g.id for g in ended[3:]] and not asking
