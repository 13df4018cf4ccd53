"""Compare: two to four videos the viewer may see, side by side, with the settings that differ
marked; reached from a gallery selection and from a generation page."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_finished_generation, make_user
from tests.integration.lifecycle import visible_text

pytestmark = pytest.mark.django_db


def _pair(owner):
    params = {"resolution": "720P", "duration": 5, "seed": 11, "audio": True}
    one = make_finished_generation(owner=owner, prompt="Foxes in the snow", params=params)
    two = make_finished_generation(
        owner=owner, prompt="Foxes in the snow", params={**params, "seed": 12}
    )
    return one, two


def test_two_videos_side_by_side_with_what_differs_marked(signed_in, user):
    one, two = _pair(user)
    page = signed_in.get(f"/compare/?ids={one.id},{two.id}")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("data-compare-video") == 2
    for generation in (one, two):
        assert f'src="/generations/{generation.id}/video/"' in html
    rows = re.findall(r'<tr( class="differs")?>\s*<th scope="row">([^<]+)', html)
    labels = {label.strip() for _, label in rows}
    marked = {label.strip() for differs, label in rows if differs}
    assert marked == {"Seed"}, marked
    assert {"Model", "Prompt", "Seed", "Credits"} <= labels
    text = visible_text(html)
    assert "Seed differs" in text and "Prompt differs" not in text


def test_the_ids_may_come_one_by_one_and_are_taken_once_each(signed_in, user):
    one, two = _pair(user)
    page = signed_in.get("/compare/", {"ids": [str(one.id), str(two.id), str(one.id)]})
    assert page.status_code == 200 and page.content.decode().count("data-compare-video") == 2


@pytest.mark.parametrize("count", [1, 5])
def test_fewer_than_two_or_more_than_four_are_refused_with_a_way_on(signed_in, user, count):
    ids = ",".join(str(make_finished_generation(owner=user).id) for _ in range(count))
    page = signed_in.get(f"/compare/?ids={ids}")
    assert page.status_code == 400
    assert f"Choose 2 to 4 videos to compare ({count} chosen)." in page.content.decode()


def test_a_malformed_id_is_refused(signed_in, user):
    one, _ = _pair(user)
    page = signed_in.get(f"/compare/?ids={one.id},../../etc")
    assert page.status_code == 400 and "is not a video&#x27;s id" in page.content.decode()


def test_a_video_the_viewer_may_not_see_makes_the_page_404(signed_in, user):
    mine, _ = _pair(user)
    theirs = make_finished_generation(owner=make_user(username="someone-else"))
    assert signed_in.get(f"/compare/?ids={mine.id},{theirs.id}").status_code == 404


def test_a_gallery_selection_opens_compare(signed_in, user):
    one, two = _pair(user)
    response = signed_in.post(
        "/gallery/bulk/", {"action": "compare", "ids": [one.id, two.id], "next": "/gallery/"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/compare/?ids={one.id},{two.id}"
    alone = signed_in.post(
        "/gallery/bulk/", {"action": "compare", "ids": [one.id], "next": "/gallery/"}, follow=True
    )
    assert "Select 2 to 4 videos to compare them." in alone.content.decode()


def test_a_generation_page_opened_from_the_gallery_offers_compare_with_the_previous(
    signed_in, user
):
    older, newer = _pair(user)
    signed_in.get("/gallery/")
    html = signed_in.get(f"/generations/{older.id}/").content.decode()
    assert f'href="/compare/?ids={older.id},{newer.id}"' in html
