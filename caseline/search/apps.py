from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    name = "caseline.search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from . import maintenance

        post_migrate.connect(
            maintenance.repair_after_migrate, sender=self, dispatch_uid="search-repair"
        )
