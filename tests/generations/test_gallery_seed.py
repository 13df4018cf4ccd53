"""`manage.py seed_gallery`: demo and benchmark data with real posters and small real videos."""

from __future__ import annotations

import io

import av
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from generations.models import Generation, GenerationEvent
from tests.factories import make_team

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    out = io.StringIO()
    call_command("seed_gallery", stdout=out, **options)
    return out.getvalue()


def test_it_creates_finished_generations_with_real_media(user):
    assert "Created 25 finished generations for maker." in seed(user="maker", count=25)
    generations = Generation.objects.filter(owner=user)
    assert generations.count() == 25
    assert set(generations.values_list("state", flat=True)) == {"succeeded"}
    sample = generations.first()
    with default_storage.open(sample.video.name, "rb") as handle, av.open(handle) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 180)
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) > 10
    with default_storage.open(sample.poster.name, "rb") as handle:
        assert Image.open(handle).size == (320, 180)
    assert sample.video_bytes == default_storage.size(sample.video.name)
    assert sample.prompt and sample.seed is not None and sample.provider_task_id
    assert sample.params["prompt"] == sample.prompt
    assert GenerationEvent.objects.filter(generation=sample).count() == 2
    # Spread over past months, so dates and paging have something to work on.
    times = sorted(generations.values_list("created_at", flat=True))
    assert (times[-1] - times[0]).days > 30


def test_the_gallery_shows_seeded_generations_and_their_media(signed_in, user):
    seed(user="maker", count=3)
    generation = Generation.objects.filter(owner=user).first()
    assert str(generation.id) in signed_in.get("/gallery/").content.decode()
    assert signed_in.get(f"/generations/{generation.id}/").status_code == 200
    assert signed_in.get(f"/generations/{generation.id}/video/").status_code == 200


def test_it_writes_in_bulk(user):
    with CaptureQueriesContext(connection) as captured:
        seed(user="maker", count=2500)
    assert Generation.objects.filter(owner=user).count() == 2500
    # Multi-row INSERTs (SQLite caps the parameters per statement): far fewer than the 7,500
    # rows written (2,500 generations and their 5,000 events).
    assert len(captured) < 250


def test_it_can_seed_a_teams_gallery(user):
    team = make_team(slug="demo-team", members=[user])
    assert "in team demo-team" in seed(user="maker", count=4, team="demo-team")
    assert Generation.objects.filter(team=team).count() == 4


def test_it_refuses_what_it_cannot_do(user):
    make_team(slug="closed")
    with pytest.raises(CommandError, match="no user"):
        seed(user="nobody", count=1)
    with pytest.raises(CommandError, match="no team"):
        seed(user="maker", count=1, team="missing")
    with pytest.raises(CommandError, match="not a member"):
        seed(user="maker", count=1, team="closed")
    with pytest.raises(CommandError, match="at least 1"):
        seed(user="maker", count=0)
