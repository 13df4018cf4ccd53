"""Acting on several cards at once, deleting with an undo, and removing deleted files later."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from generations.models import Favourite, Generation
from generations.services import generations_purge_deleted
from generations.tasks import generations_purge_deleted_task
from tests.factories import make_generation, make_team, make_user

pytestmark = pytest.mark.django_db


def bulk(client, action: str, ids, **extra):
    return client.post(
        "/gallery/bulk/",
        {"action": action, "ids": [str(i) for i in ids], "next": "/gallery/?sort=oldest", **extra},
    )


def test_selected_cards_can_be_favourited_and_unfavourited_at_once(signed_in, user):
    a, b, c = (make_generation(owner=user) for _ in range(3))
    response = bulk(signed_in, "favourite", [a.id, b.id])
    assert response.status_code == 302 and response["Location"] == "/gallery/?sort=oldest"
    assert set(Favourite.objects.filter(user=user).values_list("generation_id", flat=True)) == {
        a.id,
        b.id,
    }
    bulk(signed_in, "favourite", [a.id, c.id])  # idempotent for a
    bulk(signed_in, "unfavourite", [a.id])
    assert set(Favourite.objects.filter(user=user).values_list("generation_id", flat=True)) == {
        b.id,
        c.id,
    }


def test_selected_cards_are_deleted_and_can_be_brought_back(signed_in, user):
    a, b, keep = (make_generation(owner=user) for _ in range(3))
    response = bulk(signed_in, "delete", [a.id, b.id])
    assert response.status_code == 302
    page = signed_in.get("/gallery/").content.decode()
    assert "Deleted 2 videos." in page
    assert str(keep.id) in page and f'id="card-{a.id}"' not in page
    assert signed_in.get(f"/generations/{a.id}/").status_code == 404
    assert signed_in.get(f"/generations/{a.id}/video/").status_code == 404
    # The notice shows once; its Undo form carries the ids.
    assert "Deleted 2 videos." not in signed_in.get("/gallery/").content.decode()
    assert f'name="ids" value="{a.id}"' in page and 'action="/gallery/restore/"' in page

    response = signed_in.post("/gallery/restore/", {"ids": [str(a.id), str(b.id)]})
    assert response.status_code == 302
    assert Generation.objects.filter(deleted_at__isnull=True).count() == 3
    assert signed_in.get(f"/generations/{a.id}/video/").status_code == 200


def test_unfinished_or_foreign_generations_are_not_deleted(signed_in, user, other_user):
    running = make_generation(owner=user, state="running")
    foreign = make_generation(owner=other_user)
    bulk(signed_in, "delete", [running.id, foreign.id, "not-an-id"])
    assert not Generation.objects.filter(deleted_at__isnull=False).exists()
    assert "could not be deleted" in signed_in.get("/gallery/").content.decode()


def test_someone_elses_ids_are_ignored_by_every_bulk_action(signed_in, user, other_user):
    foreign = make_generation(owner=other_user)
    make_team(slug="mine", members=[user])
    for action in ("favourite", "delete"):
        bulk(signed_in, action, [foreign.id])
    bulk(signed_in, "share", [foreign.id], team="mine")
    foreign.refresh_from_db()
    assert foreign.deleted_at is None and foreign.team_id is None
    assert not Favourite.objects.exists()
    assert signed_in.post("/gallery/restore/", {"ids": [str(foreign.id)]}).status_code == 302


def test_sharing_files_the_persons_own_selection_in_the_team(signed_in, user, other_user):
    team = make_team(slug="studio-team", members=[user, other_user])
    other_team = make_team(slug="elsewhere", members=[user])
    free = make_generation(owner=user)
    moved = make_generation(owner=user, team=other_team)  # at most one team: it moves
    foreign = make_generation(owner=other_user, team=team)
    bulk(signed_in, "share", [free.id, moved.id, foreign.id], team="studio-team")
    for generation in (free, moved, foreign):
        generation.refresh_from_db()
    assert free.team == team and moved.team == team and foreign.owner == other_user
    page = signed_in.get("/gallery/").content.decode()
    assert "Shared with Studio-Team: 2 videos." in page
    assert "1 skipped (only your own videos)." in page


def test_sharing_needs_a_team_the_person_belongs_to(signed_in, user):
    make_team(slug="not-mine", members=[make_user(username="outsider")])
    generation = make_generation(owner=user)
    bulk(signed_in, "share", [generation.id], team="not-mine")
    generation.refresh_from_db()
    assert generation.team is None
    assert "Choose one of your teams" in signed_in.get("/gallery/").content.decode()


def test_a_bulk_action_needs_a_selection_and_a_known_action(signed_in, user):
    make_generation(owner=user)
    bulk(signed_in, "delete", [])
    assert "Select at least one video" in signed_in.get("/gallery/").content.decode()
    bulk(signed_in, "explode", [make_generation(owner=user).id])
    assert "Choose what to do" in signed_in.get("/gallery/").content.decode()


def test_the_next_page_after_a_bulk_action_stays_on_this_site(signed_in, user):
    generation = make_generation(owner=user)
    response = signed_in.post(
        "/gallery/bulk/",
        {"action": "favourite", "ids": [str(generation.id)], "next": "https://evil.example/"},
    )
    assert response["Location"] == "/gallery/"


def test_a_deletion_cannot_be_undone_after_the_window(signed_in, user, settings):
    generation = make_generation(owner=user)
    bulk(signed_in, "delete", [generation.id])
    Generation.objects.filter(pk=generation.pk).update(
        deleted_at=timezone.now() - timedelta(seconds=settings.STUDIO_DELETE_UNDO_SECONDS + 5)
    )
    signed_in.post("/gallery/restore/", {"ids": [str(generation.id)]})
    assert "can no longer be restored" in signed_in.get("/gallery/").content.decode()
    assert Generation.objects.get(pk=generation.pk).deleted_at is not None


def test_the_purge_removes_files_of_generations_deleted_past_the_window(user, settings):
    old, recent, alive = (make_generation(owner=user) for _ in range(3))
    past = timezone.now() - timedelta(seconds=settings.STUDIO_DELETE_UNDO_SECONDS + 60)
    Generation.objects.filter(pk=old.pk).update(deleted_at=past)
    Generation.objects.filter(pk=recent.pk).update(deleted_at=timezone.now())
    assert generations_purge_deleted_task() == 1
    old.refresh_from_db()
    assert old.video.name == "" and old.poster.name == ""
    for generation in (recent, alive):
        assert default_storage.exists(generation.video.name)
        assert default_storage.exists(generation.poster.name)
    assert not default_storage.exists(f"results/{old.created_at:%Y/%m}/{old.id}.mp4")
    assert generations_purge_deleted() == 0  # nothing left to do


def test_the_purge_keeps_files_that_other_generations_still_use(settings):
    owner = make_user(username="seeded")
    call_command("seed_gallery", user="seeded", count=12, random_seed=1, stdout=io.StringIO())
    first = Generation.objects.filter(owner=owner).first()
    sharing = Generation.objects.filter(video=first.video.name).exclude(pk=first.pk)
    assert sharing.exists()
    past = timezone.now() - timedelta(seconds=settings.STUDIO_DELETE_UNDO_SECONDS + 60)
    Generation.objects.filter(pk=first.pk).update(deleted_at=past)
    assert generations_purge_deleted() == 1
    assert default_storage.exists(first.video.name)


def test_the_purge_runs_every_hour():
    schedule = Schedule.objects.get(func="generations.tasks.generations_purge_deleted_task")
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1
