"""Searching prompts with the database's own text search.

SQLite (the embedded default): an FTS5 table kept in step with `generations_generation` by
triggers. FTS5 needs integer row ids and a generation's id is a UUID, so a small mapping table
gives each generation a stable integer (the implicit rowid of the generations table is not
stable: VACUUM may renumber it).

PostgreSQL: a GIN expression index over `to_tsvector('english', prompt || ' ' || negative_prompt)`
and the same expression in the query, so the index is used.

Both find generations whose prompt or negative prompt holds every word of the query, in any
order and case, and in any of its English word forms ("foxes" finds "fox", "running" finds
"runs": FTS5's `porter` tokenizer, PostgreSQL's `english` configuration); the last word also
as a prefix ("red clou" finds "red clouds"), as one types. FTS5 also folds accents, PostgreSQL
does not (that needs the `unaccent` extension); PostgreSQL's `english` also leaves out its stop
words ("the", "a"), which FTS5 keeps.
"""

from __future__ import annotations

import re

from django.db import connection as default_connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

SQLITE_TABLE = "generations_search"
SQLITE_DOCS = "generations_search_doc"
POSTGRES_INDEX = "generations_generation_search"
POSTGRES_CONFIG = "english"
SQLITE_TOKENIZER = "porter unicode61 remove_diacritics 2"
MAX_TERMS = 8
_WORD = re.compile(r"\w+", re.UNICODE)

_SQLITE_TRIGGERS = {
    "generations_search_insert": f"""
        CREATE TRIGGER IF NOT EXISTS generations_search_insert
        AFTER INSERT ON generations_generation BEGIN
            INSERT INTO {SQLITE_DOCS} (generation_id) VALUES (new.id);
            INSERT INTO {SQLITE_TABLE} (rowid, prompt, negative_prompt)
            VALUES ((SELECT id FROM {SQLITE_DOCS} WHERE generation_id = new.id),
                    new.prompt, new.negative_prompt);
        END""",
    # Every save() writes every column: only a real change of the text touches the index.
    "generations_search_update": f"""
        CREATE TRIGGER IF NOT EXISTS generations_search_update
        AFTER UPDATE OF prompt, negative_prompt ON generations_generation
        WHEN old.prompt IS NOT new.prompt OR old.negative_prompt IS NOT new.negative_prompt
        BEGIN
            UPDATE {SQLITE_TABLE} SET prompt = new.prompt, negative_prompt = new.negative_prompt
            WHERE rowid = (SELECT id FROM {SQLITE_DOCS} WHERE generation_id = new.id);
        END""",
    "generations_search_delete": f"""
        CREATE TRIGGER IF NOT EXISTS generations_search_delete
        AFTER DELETE ON generations_generation BEGIN
            DELETE FROM {SQLITE_TABLE}
            WHERE rowid = (SELECT id FROM {SQLITE_DOCS} WHERE generation_id = old.id);
            DELETE FROM {SQLITE_DOCS} WHERE generation_id = old.id;
        END""",
}


def search_terms(text: str) -> list[str]:
    """The words of a query, lower-cased; punctuation and operators are not syntax here."""
    return [word.lower() for word in _WORD.findall(text or "")][:MAX_TERMS]


def search_condition(text: str, *, vendor: str | None = None) -> Q | None:
    """A filter for generations whose prompt or negative prompt has every word of `text`.

    None when `text` holds no word (the caller then does not search at all).
    """
    terms = search_terms(text)
    if not terms:
        return None
    vendor = vendor or default_connection.vendor
    if vendor == "sqlite":
        # Each term quoted, so no FTS syntax can be injected; the last one as a prefix.
        match = " ".join(f'"{term}"' for term in terms) + "*"
        ids = RawSQL(
            f"SELECT d.generation_id FROM {SQLITE_TABLE} s "
            f"JOIN {SQLITE_DOCS} d ON d.id = s.rowid WHERE {SQLITE_TABLE} MATCH %s",
            [match],
        )
        return Q(id__in=ids)
    if vendor == "postgresql":
        query = " & ".join(terms) + ":*"
        return Q(
            RawSQL(
                f"to_tsvector('{POSTGRES_CONFIG}'::regconfig, "
                '"generations_generation"."prompt" || \' \' || '
                '"generations_generation"."negative_prompt") '
                f"@@ to_tsquery('{POSTGRES_CONFIG}'::regconfig, %s)",
                [query],
                output_field=BooleanField(),
            )
        )
    # Any other database: a plain substring match on each word (correct, not indexed).
    condition = Q()
    for term in terms:
        condition &= Q(prompt__icontains=term) | Q(negative_prompt__icontains=term)
    return condition


def search_index_install(connection) -> None:
    """Create the search index of this database (idempotent) and fill it from what exists."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {SQLITE_DOCS} ("
                "id INTEGER PRIMARY KEY, generation_id char(32) NOT NULL UNIQUE)"
            )
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {SQLITE_TABLE} USING fts5("
                f"prompt, negative_prompt, tokenize = '{SQLITE_TOKENIZER}')"
            )
            for statement in _SQLITE_TRIGGERS.values():
                cursor.execute(statement)
            _sqlite_refill(cursor)
        elif connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {POSTGRES_INDEX} ON generations_generation "
                f"USING gin (to_tsvector('{POSTGRES_CONFIG}'::regconfig, "
                "prompt || ' ' || negative_prompt))"
            )


def search_index_remove(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")
            cursor.execute(f"DROP TABLE IF EXISTS {SQLITE_DOCS}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"DROP INDEX IF EXISTS {POSTGRES_INDEX}")


def search_index_ensure(connection) -> bool:
    """Put the SQLite triggers back if a migration dropped them; True when it had to.

    Django alters a SQLite table by copying it into a new one and dropping the old one, which
    drops its triggers too; after every `migrate` this restores them and refills the index.
    """
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s", [SQLITE_TABLE]
        )
        if cursor.fetchone() is None:
            return False  # not migrated that far yet: the migration installs it
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
    if set(_SQLITE_TRIGGERS) <= present:
        return False
    search_index_install(connection)
    return True


def _sqlite_refill(cursor) -> None:
    """Index every generation the index does not hold yet (all of them after an install)."""
    cursor.execute(
        f"INSERT INTO {SQLITE_DOCS} (generation_id) SELECT g.id FROM generations_generation g "
        f"WHERE NOT EXISTS (SELECT 1 FROM {SQLITE_DOCS} d WHERE d.generation_id = g.id)"
    )
    cursor.execute(
        f"DELETE FROM {SQLITE_DOCS} WHERE generation_id NOT IN "
        "(SELECT id FROM generations_generation)"
    )
    cursor.execute(f"DELETE FROM {SQLITE_TABLE}")
    cursor.execute(
        f"INSERT INTO {SQLITE_TABLE} (rowid, prompt, negative_prompt) "
        f"SELECT d.id, g.prompt, g.negative_prompt FROM {SQLITE_DOCS} d "
        "JOIN generations_generation g ON g.id = d.generation_id"
    )
