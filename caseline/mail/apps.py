from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "caseline.mail"
    label = "mail"
    verbose_name = "Email channel"

    def ready(self) -> None:
        from caseline import events

        from . import handlers

        events.subscribe("ticket.message_added", handlers.message_added)

        from django.db.models.signals import post_delete, post_save

        from .ingest import forget_mailbox_addresses
        from .models import Mailbox

        post_save.connect(forget_mailbox_addresses, sender=Mailbox, dispatch_uid="mail-addr-save")
        post_delete.connect(forget_mailbox_addresses, sender=Mailbox, dispatch_uid="mail-addr-del")
