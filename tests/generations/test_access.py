"""Walk the URLconf: every route that takes a generation or file id answers 404 to anyone who may
not see it, whatever the method, Range requests on media included, so ids cannot be probed.

A new route with an id is picked up here by itself. One that is deliberately not a per-viewer
route must be listed in EXEMPT with the reason.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import UUIDConverter
from django.utils import timezone

from accounts.models import Membership
from accounts.services import api_token_create
from generations.forms import UploadCandidate
from generations.models import Generation
from generations.services import reference_store
from generations.uploads import audio_inspect
from tests.factories import make_generation, make_team, make_user, wav_bytes

pytestmark = pytest.mark.django_db

# Routes that take something id-like but are guarded another way (DESIGN.md lists them).
EXEMPT = {
    "admin": "staff only: Django's admin sends everyone else to its login, whatever the id",
}
# Routes that take an id in the query string.
QUERY_IDS = [("/", "from")]
METHODS = [
    ("GET", {}),
    ("GET", {"Range": "bytes=0-99"}),
    ("GET", {"Range": "bytes=-1"}),
    ("HEAD", {"Range": "bytes=0-0"}),
    ("POST", {}),
]


def routes(resolver=None, prefix: str = "", converters=None, namespace: str = ""):
    """(route, its converters, its namespace) for every URL pattern, nested ones included."""
    resolver = resolver or get_resolver()
    converters = converters or {}
    for entry in resolver.url_patterns:
        found = {**converters, **getattr(entry.pattern, "converters", {})}
        text = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            space = entry.namespace or namespace
            yield from routes(entry, text, found, space)
        elif isinstance(entry, URLPattern):
            yield text, found, namespace


# Parameters that name a generation or a stored file whatever their converter (the API names a
# generation `task_id`, as the providers do). Other integer ids (team members, invitations,
# tokens) are scoped by their team or owner and tested where they live.
ID_NAMES = {"task_id", "generation_id", "reference_id", "file_id"}


def takes_an_id(converters: dict) -> bool:
    return any(
        isinstance(converter, UUIDConverter) or name in ID_NAMES
        for name, converter in converters.items()
    )


def credentials(route: str, user) -> dict:
    """How `user` authenticates on this route: the API takes bearer tokens, pages the session."""
    if route.startswith("v1/"):
        _, raw = api_token_create(user=user, name="walk")
        return {"Authorization": f"Bearer {raw}"}
    return {}


def fill(route: str, converters: dict, value: str) -> str:
    path = "/" + route
    for name in converters:
        path = re.sub(rf"<(?:[^:>]+:)?{name}>", value, path)
    assert "<" not in path, path
    return path


@pytest.fixture
def victim_ids(user):
    generation = make_generation(owner=user)
    wav = SimpleUploadedFile("a.wav", wav_bytes(seconds=4), content_type="audio/wav")
    audio = reference_store(
        owner=user, upload=UploadCandidate(file=wav, info=audio_inspect(wav), kind="audio")
    )
    Generation.objects.filter(pk=generation.pk).update(audio_reference=audio)
    return {
        "generation": str(generation.id),
        "reference": str(generation.reference_id),
        "audio": str(audio.id),
    }


def id_routes():
    found = []
    for route, converters, namespace in routes():
        if not takes_an_id(converters) or namespace in EXEMPT:
            continue
        found.append((route, converters))
    return found


def test_the_walk_finds_the_routes_it_must_check():
    found = {route for route, _ in id_routes()}
    for expected in (
        "generations/<uuid:id>/",
        "generations/<uuid:id>/video/",
        "generations/<uuid:id>/poster/",
        "generations/<uuid:id>/card/",
        "generations/<uuid:id>/favourite/",
        "generations/<uuid:id>/delete/",
        "generations/<uuid:id>/retry/",
        "generations/<uuid:id>/reference/",
        "references/<uuid:id>/",
        "v1/video/generations/<str:task_id>",
        "v1/video/generations/<str:task_id>/cancel",
        "generations/<uuid:id>/share-link/",
    ):
        assert expected in found, expected


def status(client, method: str, url: str, headers: dict) -> int:
    return client.generic(method, url, headers=headers).status_code


def test_every_route_with_an_id_answers_404_to_a_second_person(client, user, victim_ids):
    stranger = make_user(username="prober", credits=100)
    checked = 0
    for route, converters in id_routes():
        for value in victim_ids.values():
            url = fill(route, converters, value)
            unknown = fill(route, converters, str(uuid.uuid4()))
            client.force_login(stranger)
            auth = credentials(route, stranger)
            answers = []
            for method, headers in METHODS:
                headers = {**headers, **auth}
                got = status(client, method, url, headers)
                # A method a route does not take is refused alike for any id (405).
                assert got in (404, 405), f"{method} {url} {headers} as a stranger: {got}"
                assert got == status(client, method, unknown, headers), f"{method} {url}"
                answers.append(got)
            assert 404 in answers, f"{url} never answered 404"
            checked += 1
    assert checked >= 27
    # Nothing changed on the owner's side.
    generation = Generation.objects.get(pk=victim_ids["generation"])
    assert generation.deleted_at is None and not generation.favourites.exists()
    assert not Generation.objects.filter(retry_of=generation).exists()


def test_the_owner_reaches_what_the_stranger_could_not(client, user, victim_ids):
    client.force_login(user)
    reached = set()
    for route, converters in id_routes():
        auth = credentials(route, user)
        for value in victim_ids.values():
            url = fill(route, converters, value)
            got = status(client, "GET", url, {"Range": "bytes=0-99", **auth})
            if got in (200, 206):
                reached.add(route)
    for route in (
        "generations/<uuid:id>/",
        "generations/<uuid:id>/video/",
        "generations/<uuid:id>/poster/",
        "generations/<uuid:id>/card/",
        "generations/<uuid:id>/reference/",
        "generations/<uuid:id>/audio/",
        "references/<uuid:id>/",
        "v1/video/generations/<str:task_id>",
    ):
        assert route in reached, route


def test_ids_in_query_strings_answer_404_too(client, victim_ids):
    client.force_login(make_user(username="prober2"))
    for path, parameter in QUERY_IDS:
        for value in victim_ids.values():
            assert client.get(path, {parameter: value}).status_code == 404
            assert client.get(path, {parameter: value, "seed": "keep"}).status_code == 404


def test_a_deleted_generation_is_not_found_even_by_its_owner(client, user, victim_ids):
    Generation.objects.filter(pk=victim_ids["generation"]).update(deleted_at=timezone.now())
    client.force_login(user)
    for route, converters in id_routes():
        if route.startswith("references/"):
            continue  # a reference outlives a deleted generation; it stays its owner's
        url = fill(route, converters, victim_ids["generation"])
        auth = credentials(route, user)
        for method, headers in METHODS:
            got = status(client, method, url, {**headers, **auth})
            assert got in (404, 405), f"{method} {url}: {got}"
    assert client.get("/", {"from": victim_ids["generation"]}).status_code == 404


def test_a_team_member_sees_the_teams_generation_and_a_former_member_does_not(client, user):
    member = make_user(username="member")
    team = make_team(slug="walkers", members=[user, member])
    generation = make_generation(owner=user, team=team)
    client.force_login(member)
    for path in ("", "video/", "poster/", "card/", "reference/"):
        assert client.get(f"/generations/{generation.id}/{path}").status_code == 200, path
    Membership.objects.filter(team=team, user=member).delete()
    for path in ("", "video/", "poster/", "card/", "reference/"):
        assert client.get(f"/generations/{generation.id}/{path}").status_code == 404, path
