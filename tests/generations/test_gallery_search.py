"""Searching prompts with the database's own text search (FTS5 on SQLite, tsvector on PostgreSQL).

Marked `services`: CI runs these again on PostgreSQL, so both engines are held to the same
behaviour.
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.db import connection

from generations.models import Generation
from generations.search import SQLITE_DOCS, search_condition, search_index_ensure, search_terms
from tests.factories import make_generation, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.services]

CARD_ID = re.compile(r'<div class="card-body" id="card-([0-9a-f-]{36})"')


def found(client, query: str) -> set[str]:
    response = client.get("/gallery/", {"q": query})
    assert response.status_code == 200
    return set(CARD_ID.findall(response.content.decode()))


@pytest.fixture
def prompts(user):
    return {
        "clouds": make_generation(owner=user, prompt="Clouds rolling over green hills"),
        "fox": make_generation(owner=user, prompt="A red fox running through deep snow"),
        "fox_city": make_generation(owner=user, prompt="A fox crossing a neon city street"),
        "negative": make_generation(
            owner=user, prompt="A quiet harbour", negative_prompt="seagulls, blurry"
        ),
    }


def ids(*generations) -> set[str]:
    return {str(generation.id) for generation in generations}


def test_a_word_is_found_as_a_prefix_and_regardless_of_case(signed_in, prompts):
    assert found(signed_in, "clou") == ids(prompts["clouds"])
    assert found(signed_in, "FOX") == ids(prompts["fox"], prompts["fox_city"])


def test_every_word_must_be_there_in_any_order(signed_in, prompts):
    assert found(signed_in, "snow fox") == ids(prompts["fox"])
    assert found(signed_in, "fox harbour") == set()


def test_the_last_word_is_a_prefix_as_one_types(signed_in, prompts):
    assert found(signed_in, "red fox run") == ids(prompts["fox"])
    assert found(signed_in, "re fox") == set()  # earlier words are whole words


def test_word_forms_are_found(signed_in, user, prompts):
    """English word forms: the plural finds the singular and back, a verb its other forms."""
    foxes = make_generation(owner=user, prompt="Two foxes playing in the tall grass")
    assert found(signed_in, "foxes") == ids(prompts["fox"], prompts["fox_city"], foxes)
    assert found(signed_in, "fox") == ids(prompts["fox"], prompts["fox_city"], foxes)
    assert found(signed_in, "cloud") == ids(prompts["clouds"])
    assert found(signed_in, "runs fox") == ids(prompts["fox"])
    assert found(signed_in, "crossed city") == ids(prompts["fox_city"])
    assert found(signed_in, "played grass") == ids(foxes)


def test_the_negative_prompt_is_searched_too(signed_in, prompts):
    assert found(signed_in, "seagull") == ids(prompts["negative"])


def test_search_syntax_in_the_query_is_just_text(signed_in, prompts):
    for query in ['"fox"', "fox*", "(fox", "fox & !", "fox:*|", "'fox'", "fox\\"]:
        assert found(signed_in, query) == ids(prompts["fox"], prompts["fox_city"]), query
    assert found(signed_in, "city -fox") == ids(prompts["fox_city"])


def test_a_query_without_words_does_not_filter(signed_in, prompts):
    assert found(signed_in, " !!! ") == ids(*prompts.values())


def test_search_only_finds_what_the_viewer_may_see(signed_in, prompts):
    stranger = make_user(username="searcher", credits=50)
    make_generation(owner=stranger, prompt="Another fox, not yours")
    assert found(signed_in, "fox") == ids(prompts["fox"], prompts["fox_city"])


def test_search_combines_with_filters_and_pages(signed_in, user, settings, prompts):
    settings.STUDIO_GALLERY_PAGE_SIZE = 1
    response = signed_in.get("/gallery/", {"q": "fox", "state": "succeeded"})
    assert len(CARD_ID.findall(response.content.decode())) == 1
    assert "q=fox" in re.search(r'rel="next" href="([^"]+)"', response.content.decode()).group(1)


def test_the_index_follows_changes_to_prompts(signed_in, prompts):
    fox = Generation.objects.get(pk=prompts["fox"].pk)
    fox.prompt = "A white hare in the snow"
    fox.save()
    assert found(signed_in, "hare") == ids(fox)
    assert found(signed_in, "fox") == ids(prompts["fox_city"])
    Generation.objects.filter(pk=prompts["fox_city"].pk).update(prompt="An empty street")
    assert found(signed_in, "fox") == set()


def test_search_terms_are_words_only():
    assert search_terms('Fox "NEAR"(snow)*, -city') == ["fox", "near", "snow", "city"]
    assert search_terms("Über café") == ["über", "café"]


def test_the_search_expression_is_the_indexed_one(prompts):
    queryset = Generation.objects.filter(search_condition("fox"))
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # With sequential scans off, only an index whose expression matches can serve it.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "generations_generation_search" in plan, plan
        else:
            assert connection.vendor == "sqlite"
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "VIRTUAL TABLE" in plan, plan
    assert set(queryset.values_list("id", flat=True)) == {
        prompts["fox"].id,
        prompts["fox_city"].id,
    }


def test_lost_sqlite_triggers_are_restored_after_migrate(signed_in, user, prompts):
    if connection.vendor != "sqlite":
        assert search_index_ensure(connection) is False  # nothing to restore elsewhere
        return
    with connection.cursor() as cursor:
        # What Django's SQLite table rebuild does to triggers: they go with the old table.
        for name in ("generations_search_insert", "generations_search_update"):
            cursor.execute(f"DROP TRIGGER {name}")
    unseen = make_generation(owner=user, prompt="Lanterns over a winter lake")
    assert found(signed_in, "lantern") == set()
    call_command("migrate", verbosity=0)  # post_migrate restores and refills the index
    assert found(signed_in, "lantern") == ids(unseen)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {SQLITE_DOCS}")
        assert cursor.fetchone()[0] == Generation.objects.count()
