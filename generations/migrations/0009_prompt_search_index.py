"""The prompt search index: FTS5 with triggers on SQLite, a GIN expression index on PostgreSQL."""

from django.db import migrations


def install(apps, schema_editor):
    from generations.search import search_index_install

    search_index_install(schema_editor.connection)


def remove(apps, schema_editor):
    from generations.search import search_index_remove

    search_index_remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("generations", "0008_favourites_and_gallery_indexes")]

    operations = [migrations.RunPython(install, remove)]
