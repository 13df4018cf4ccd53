"""The prompt search finds word forms: FTS5's porter tokenizer, PostgreSQL's `english`.

The index is built again from the prompts (the code in generations/search.py says how).
"""

from django.db import migrations


def rebuild(apps, schema_editor):
    from generations.search import search_index_install, search_index_remove

    search_index_remove(schema_editor.connection)
    search_index_install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("generations", "0011_notices_index")]

    operations = [migrations.RunPython(rebuild, rebuild)]
