"""Django admin of chat webhooks, status components and status subscribers (registered
from ``broadcasts.connect``). Chat webhooks and components are saved through the
services (validated like an API call, audited); subscribers are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from caseline.errors import DomainError

from . import broadcasts, statuspage
from .models import ChatWebhook, StatusComponent, StatusSubscriber


class _ServiceForm(forms.ModelForm):
    check = None  # (data, creating) -> raises DomainError

    def clean(self):
        data = super().clean()
        values = {f: data.get(f) for f in self.Meta.fields if f in data}
        try:
            type(self).check(values, creating=self.instance.pk is None)
        except DomainError as exc:
            for field, message in (exc.fields or {}).items():
                self.add_error(field if field in self.fields else None, message)
        return data


class ChatWebhookForm(_ServiceForm):
    check = staticmethod(broadcasts._clean_chat)
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = ChatWebhook
        fields = ["name", "url", "active"]


class ComponentForm(_ServiceForm):
    check = staticmethod(statuspage._clean_component)

    class Meta:
        model = StatusComponent
        fields = ["name", "group", "description", "position"]


class ChatWebhookAdmin(admin.ModelAdmin):
    form = ChatWebhookForm
    list_display = ["name", "url", "active", "created_at"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data.get(f) for f in ("name", "url", "active")}
        if change:
            changed = {f: v for f, v in data.items() if f in form.changed_data}
            saved = broadcasts.update_chat_webhook(obj.pk, request.user, **changed)
        else:
            saved = broadcasts.create_chat_webhook(request.user, **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        broadcasts.delete_chat_webhook(obj.pk, request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            broadcasts.delete_chat_webhook(obj.pk, request.user)


class StatusComponentAdmin(admin.ModelAdmin):
    form = ComponentForm
    list_display = ["name", "group", "position", "status", "updated_at"]
    readonly_fields = ["status", "updated_at"]

    def save_model(self, request, obj, form, change):
        fields = ("name", "group", "description", "position")
        data = {f: form.cleaned_data.get(f) for f in fields}
        if change:
            changed = {f: v for f, v in data.items() if f in form.changed_data}
            saved = statuspage.update_component(obj.pk, request.user, **changed)
        else:
            saved = statuspage.create_component(request.user, **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        statuspage.delete_component(obj.pk, request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            statuspage.delete_component(obj.pk, request.user)


class StatusSubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "created_at", "confirmed_at", "unsubscribed_at"]
    search_fields = ["email"]
    exclude = ["token"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def register() -> None:
    for model, model_admin in (
        (ChatWebhook, ChatWebhookAdmin),
        (StatusComponent, StatusComponentAdmin),
        (StatusSubscriber, StatusSubscriberAdmin),
    ):
        if not admin.site.is_registered(model):
            admin.site.register(model, model_admin)
