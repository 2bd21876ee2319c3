from django.apps import AppConfig


class CaselineConfig(AppConfig):
    """The top-level package as an app: it holds the `caseline` CLI's own commands."""

    name = "caseline"
    label = "caseline"
    verbose_name = "Caseline"
