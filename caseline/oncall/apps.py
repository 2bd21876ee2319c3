from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "caseline.oncall"
    label = "oncall"
    verbose_name = "On-duty rotas"

    def ready(self) -> None:
        # Registers the ``sla.action`` timer kind (caseline/sla/actions.py runs escalation
        # actions on on-call data); harmless if caseline.sla imports it too.
        from caseline.sla import actions  # noqa: F401
        from caseline.tickets.assignment import register_availability_filter

        from .queries import on_shift_filter

        register_availability_filter(on_shift_filter)
