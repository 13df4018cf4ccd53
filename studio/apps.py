from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .worker_shutdown import connect

        # Graceful stop of django-q2 workers (a no-op outside a qcluster process).
        connect()
