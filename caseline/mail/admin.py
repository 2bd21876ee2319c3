"""Django admin of the email channel: mailboxes (saved through the services, so an admin
edit is validated and audited like an API call; the password is write-only), received
messages with the quarantine and a "release" action, flagged addresses and
acknowledgement templates."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from caseline.errors import DomainError

from . import services
from .ingest import release
from .models import AckTemplate, FlaggedAddress, InboundMessage, Mailbox


class MailboxForm(forms.ModelForm):
    imap_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Empty keeps the stored password.",
    )

    class Meta:
        model = Mailbox
        fields = [f for f in services.FIELDS]


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ("name", "address", "kind", "team", "active", "last_polled_at", "last_error")
    list_filter = ("kind", "active")
    search_fields = ("name", "address")

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data.get(f) for f in services.FIELDS if f in form.cleaned_data}
        for key in ("team", "product_area"):
            data[key] = data[key].pk if data.get(key) is not None else None
        if not data.get("imap_password"):
            data.pop("imap_password", None)
        try:
            if change:
                saved = services.update_mailbox(obj.pk, actor=request.user, **data)
            else:
                saved = services.create_mailbox(actor=request.user, **data)
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk


@admin.action(description="Release (process again, rate limit bypassed)")
def release_selected(modeladmin, request, queryset):
    done = 0
    for row in queryset.filter(status=InboundMessage.Status.QUARANTINED):
        release(row, actor=request.user)
        done += 1
    messages.info(request, f"{done} message(s) released")


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "received_at", "mailbox", "status", "from_address", "subject", "ticket")
    list_filter = ("status", "mailbox", "source")
    search_fields = ("message_id", "from_address", "subject")
    actions = [release_selected]
    readonly_fields = [f.name for f in InboundMessage._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FlaggedAddress)
class FlaggedAddressAdmin(admin.ModelAdmin):
    list_display = ("address", "bounces", "flagged_at", "ticket", "reason")
    search_fields = ("address",)


@admin.register(AckTemplate)
class AckTemplateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "team", "subject", "active")
