from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "caseline.incidents"
    label = "incidents"
    verbose_name = "Critical incidents"

    def ready(self) -> None:
        # Timer kinds, event subscriptions and workspace panels of incidents, broadcasts,
        # the status page and multi-customer detection register here. Lower apps never
        # import this app.
        pass
