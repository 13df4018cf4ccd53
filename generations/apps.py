from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Generations"

    def ready(self) -> None:
        # A broken catalog document stops start-up here, naming the file and the field.
        from .catalog import catalog

        catalog()
