"""Previous and next on a generation page follow the gallery view it was opened from: its
filters, its order, its team; a generation outside that view gets no neighbours."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from generations.models import Favourite, Generation
from tests.factories import make_finished_generation, make_generation, make_team

pytestmark = pytest.mark.django_db

STEP = re.compile(r'<a href="/generations/([0-9a-f-]{36})/" rel="(prev|next)"')


def _made(owner, prompts: list[str], **values) -> list[Generation]:
    """Generations made a minute apart, oldest first."""
    start = timezone.now() - timedelta(hours=1)
    made = []
    for minute, prompt in enumerate(prompts):
        generation = make_generation(owner=owner, prompt=prompt, **values)
        Generation.objects.filter(pk=generation.id).update(
            created_at=start + timedelta(minutes=minute)
        )
        made.append(generation)
    return made


def _steps(client, generation) -> dict[str, str]:
    html = client.get(f"/generations/{generation.id}/").content.decode()
    return {rel: key for key, rel in STEP.findall(html)}


def test_neighbours_follow_the_filtered_view_newest_first(signed_in, user):
    a, b, c, d, e = _made(user, ["fox one", "owl", "fox two", "owl again", "fox three"])
    signed_in.get("/gallery/", {"q": "fox"})  # shows e, c, a
    assert _steps(signed_in, c) == {"prev": str(e.id), "next": str(a.id)}
    assert _steps(signed_in, e) == {"next": str(c.id)}
    assert _steps(signed_in, a) == {"prev": str(c.id)}
    # Not in that view: no neighbours, just the way back.
    page = signed_in.get(f"/generations/{b.id}/").content.decode()
    assert not STEP.findall(page) and "← Gallery" in page


def test_the_oldest_first_order_turns_them_round(signed_in, user):
    a, b, c = _made(user, ["one", "two", "three"])
    signed_in.get("/gallery/", {"sort": "oldest"})
    assert _steps(signed_in, b) == {"prev": str(a.id), "next": str(c.id)}


def test_favourites_first_puts_favourites_ahead(signed_in, user):
    a, b, c, d = _made(user, ["one", "two", "three", "four"])
    Favourite.objects.create(user=user, generation=b)
    signed_in.get("/gallery/", {"sort": "favourites"})  # b, then d, c, a
    assert _steps(signed_in, b) == {"next": str(d.id)}
    assert _steps(signed_in, d) == {"prev": str(b.id), "next": str(c.id)}
    assert _steps(signed_in, a) == {"prev": str(c.id)}


def test_a_team_gallery_steps_through_the_team_only(signed_in, user, other_user):
    team = make_team(slug="crew", members=[other_user], credits=500)
    Membership.objects.create(team=team, user=user)
    mine = _made(user, ["personal"])[0]
    theirs = _made(other_user, ["team one", "team two"], team=team)
    signed_in.get(f"/teams/{team.slug}/")
    assert _steps(signed_in, theirs[0]) == {"prev": str(theirs[1].id)}
    assert str(mine.id) not in _steps(signed_in, theirs[1]).values()


def test_a_second_visit_to_the_same_gallery_view_writes_no_session(signed_in, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_finished_generation(owner=user)
    signed_in.get("/gallery/?sort=oldest")
    with CaptureQueriesContext(connection) as seen:
        signed_in.get("/gallery/?sort=oldest")
    writes = [q["sql"] for q in seen.captured_queries if q["sql"].startswith("UPDATE")]
    assert writes == []
