from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "caseline.sla"
    label = "sla"
    verbose_name = "SLA engine and timers"

    def ready(self) -> None:
        # Registers the built-in timer kinds (``audit.note``) in the registry.
        from . import timers  # noqa: F401
