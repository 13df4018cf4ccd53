from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _search_index_ensure(sender, using, **kwargs) -> None:
    from django.db import connections

    from .search import search_index_ensure

    search_index_ensure(connections[using])


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Generations"

    def ready(self) -> None:
        # A broken catalog document stops start-up here, naming the file and the field.
        from django_q.signals import post_spawn

        from .catalog import catalog
        from .tracker import tracker_ensure_after_start

        catalog()
        # A later migration that rebuilds the generations table on SQLite drops the search
        # triggers with the old table; every migrate puts them back.
        post_migrate.connect(_search_index_ensure, sender=self)
        # A (re)started cluster tracks what a killed one left behind without waiting for
        # the schedule (a no-op outside a qcluster process).
        post_spawn.connect(tracker_ensure_after_start, dispatch_uid="generations.tracker_start")
