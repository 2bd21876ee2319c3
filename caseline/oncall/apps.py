from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "caseline.oncall"
    label = "oncall"
    verbose_name = "On-duty rotas"

    def ready(self) -> None:
        # Registers the ``sla.action`` timer kind (caseline/sla/actions.py runs escalation
        # actions on on-call data); harmless if caseline.sla imports it too.
        from caseline.sla import actions  # noqa: F401
