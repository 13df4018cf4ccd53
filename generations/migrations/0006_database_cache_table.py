"""The shared database cache's table (gallery card fragments, rate limits, django-q2 stats).

`make run` also runs `createcachetable`; doing it here means every migrated database has the
table, test databases included. With Redis configured there is no table to make.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("generations", "0005_purge_deleted_schedule")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
