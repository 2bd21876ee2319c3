"""Django admin of webhooks and the outbox.

Webhooks are saved through the services, so an admin edit is validated like an API call
and appears on the audit timeline. Outbox rows are read-only; "retry now" makes the
selected pending or failed rows due again.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from caseline.errors import DomainError

from . import services
from .models import OutboxMessage, Webhook


class WebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC-SHA256 signing secret. Empty: generated on creation, unchanged on edit.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "event_types", "active", "secret"]

    def clean(self):
        data = super().clean()
        fields = ("name", "url", "event_types", "active", "secret")
        values = {f: data.get(f) for f in fields if f in data}
        if not values.get("secret"):
            values.pop("secret", None)
        try:
            services.clean_webhook_fields(values, creating=self.instance.pk is None)
        except DomainError as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "url", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data.get(f) for f in ("name", "url", "event_types", "active")}
        secret = form.cleaned_data.get("secret") or None
        if change:
            changed = {f: v for f, v in data.items() if f in form.changed_data}
            if secret:
                changed["secret"] = secret
            saved = services.update_webhook(obj.pk, actor=request.user, **changed)
        else:
            saved, generated = services.create_webhook(actor=request.user, secret=secret, **data)
            if not secret:
                self.message_user(
                    request, f"Signing secret (shown once): {generated}", messages.WARNING
                )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.delete_webhook(obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        for hook in queryset:
            services.delete_webhook(hook.pk, actor=request.user)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "event_type",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "idempotency_key",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["idempotency_key", "event_type", "subject_type"]
    list_select_related = ["webhook"]
    actions = ["retry_now"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # rows change only through delivery and "retry now"

    def has_delete_permission(self, request, obj=None):
        return False  # the outbox is the delivery record

    def has_retry_permission(self, request):
        return request.user.has_perm("accounts.manage_webhooks")

    @admin.action(
        description="Retry now (selected pending or failed messages)", permissions=["retry"]
    )
    def retry_now(self, request, queryset):
        done, refused = 0, []
        for row_id in queryset.values_list("id", flat=True):
            try:
                services.retry_outbox(row_id, actor=request.user)
                done += 1
            except DomainError as exc:
                refused.append(f"#{row_id}: {exc.message}")
        if done:
            self.message_user(request, f"{done} message(s) made due now.", messages.SUCCESS)
        if refused:
            self.message_user(request, "; ".join(refused), messages.WARNING)
