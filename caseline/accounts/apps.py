from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "caseline.accounts"
    label = "accounts"
    verbose_name = "Accounts and people"

    def ready(self) -> None:
        post_migrate.connect(_ensure_roles, sender=self)


def _ensure_roles(sender, using="default", **kwargs) -> None:
    from .rolesync import ensure_roles

    ensure_roles(using=using)
