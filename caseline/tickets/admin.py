"""Django admin of the tickets app.

Ticket edits go through ``services.update_ticket`` (state machine, audit timeline, SC
notification), custom field definitions through their services; messages, attachments
and links are read-only here (the conversation is append-only and written by services).
Tickets are created through the API, the portal or mail (they need a first message).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from caseline.errors import DomainError

from . import services
from .models import (
    Attachment,
    CustomField,
    CustomFieldValue,
    Message,
    Tag,
    Ticket,
    TicketLink,
    TriageRule,
)
from .states import Status, check_transition

_TICKET_EDITABLE = (
    "subject",
    "status",
    "severity",
    "priority",
    "organization",
    "product_area",
    "team",
    "assignee",
    "tags",
)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessageInline(_ReadOnlyInline):
    model = Message
    fields = ("created_at", "kind", "author_user", "author_contact", "channel", "body_text")
    readonly_fields = fields
    ordering = ("id",)


class CustomFieldValueInline(_ReadOnlyInline):
    model = CustomFieldValue
    fields = ("field", "value_text", "value_number", "value_date")
    readonly_fields = fields


class TicketAdminForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = _TICKET_EDITABLE

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "status" in self.changed_data:
            old = Ticket.objects.values_list("status", flat=True).get(pk=self.instance.pk)
            new = cleaned.get("status")
            try:
                check_transition(old, new)
            except DomainError as exc:
                raise forms.ValidationError({"status": exc.message})
            if new == Status.SOLVED and not cleaned.get("assignee"):
                raise forms.ValidationError(
                    {"assignee": "a ticket needs an assignee before it can be solved"}
                )
        return cleaned


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    form = TicketAdminForm
    list_display = (
        "reference",
        "subject",
        "status",
        "severity",
        "priority",
        "organization",
        "team",
        "assignee",
        "updated_at",
    )
    list_filter = ("status", "severity", "priority", "team", "channel")
    search_fields = ("subject", "=id", "external_id")
    list_select_related = ("organization", "team", "assignee")
    raw_id_fields = ("organization",)
    readonly_fields = (
        "requester",
        "channel",
        "satisfaction",
        "merged_into",
        "created_at",
        "updated_at",
        "solved_at",
        "closed_at",
    )
    fields = (*_TICKET_EDITABLE, *readonly_fields)
    inlines = (CustomFieldValueInline, MessageInline)
    ordering = ("-id",)
    show_full_result_count = False

    @admin.display(description="Ref", ordering="id")
    def reference(self, obj: Ticket) -> str:
        return obj.reference

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        """Apply the changed fields through ``update_ticket`` (audit + state machine)."""
        changes = {}
        for name in form.changed_data:
            if name not in _TICKET_EDITABLE:
                continue
            value = form.cleaned_data.get(name)
            if name == "tags":
                value = [t.name for t in value or []]
            changes[name] = value
        self._domain_error = None
        if not changes:
            return
        try:
            services.update_ticket(obj.pk, actor=request.user, **changes)
        except DomainError as exc:
            self._domain_error = exc
            self.message_user(request, f"Not saved: {exc.message}", level=messages.ERROR)

    def save_related(self, request, form, formsets, change):
        # Tags are written by update_ticket (no form.save_m2m()); the inlines are
        # read-only, saving them only completes the admin's bookkeeping.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_change(self, request, obj):
        if getattr(self, "_domain_error", None) is not None:
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "ticket",
        "kind",
        "author_user",
        "author_contact",
        "channel",
        "created_at",
    )
    list_filter = ("kind", "channel")
    search_fields = ("=ticket__id", "body_text", "email_message_id")
    raw_id_fields = ("ticket", "author_user", "author_contact")
    list_select_related = ("ticket", "author_user", "author_contact")
    ordering = ("-id",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "content_type", "size", "message", "created_at")
    search_fields = ("filename", "sha256")
    raw_id_fields = ("message",)
    ordering = ("-id",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


class CustomFieldAdminForm(forms.ModelForm):
    class Meta:
        model = CustomField
        fields = ("key", "label", "type", "choices", "required_on_solve", "active")

    def clean(self):
        cleaned = super().clean()
        names = self.changed_data if self.instance.pk else services.CUSTOM_FIELD_ATTRS
        data = {n: cleaned.get(n) for n in names if n in services.CUSTOM_FIELD_ATTRS}
        try:
            services.clean_custom_field(data, self.instance if self.instance.pk else None)
        except DomainError as exc:
            errors = {k: v for k, v in exc.fields.items() if k in self.fields}
            raise forms.ValidationError(errors or exc.message)
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    form = CustomFieldAdminForm
    list_display = ("key", "label", "type", "required_on_solve", "active")
    list_filter = ("type", "active", "required_on_solve")
    search_fields = ("key", "label")

    def save_model(self, request, obj, form, change):
        data = {
            name: form.cleaned_data.get(name)
            for name in form.changed_data
            if name in services.CUSTOM_FIELD_ATTRS
        }
        if change:
            saved = services.update_custom_field(obj.pk, actor=request.user, **data)
        else:
            full = {n: form.cleaned_data.get(n) for n in services.CUSTOM_FIELD_ATTRS}
            saved = services.create_custom_field(actor=request.user, **full)
        obj.pk = saved.pk


@admin.register(TicketLink)
class TicketLinkAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "kind", "target", "created_by", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("source", "target", "created_by")
    list_select_related = ("source", "target", "created_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TriageRule)
class TriageRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "active", "rule_summary", "stop_processing")
    list_filter = ("active", "channel", "tier")
    search_fields = ("name", "keywords")
    ordering = ("position", "id")

    def save_model(self, request, obj, form, change):
        """Rules change through the triage services (validated, audited)."""
        from . import triage

        names = form.changed_data if change else list(form.fields)
        data = {n: form.cleaned_data.get(n) for n in names if n in triage.RULE_FIELDS}
        if change:
            triage.update_rule(TriageRule.objects.get(pk=obj.pk), request.user, **data)
        else:
            obj.pk = triage.create_rule(request.user, **data).pk

    def delete_model(self, request, obj):
        from . import triage

        triage.delete_rule(obj, request.user)

    @admin.display(description="Actions")
    def rule_summary(self, obj: TriageRule) -> str:
        parts = []
        if obj.set_severity:
            parts.append(f"Sev-{obj.set_severity}")
        if obj.set_priority:
            parts.append(obj.set_priority)
        if obj.set_product_area_id:
            parts.append(f"area #{obj.set_product_area_id}")
        if obj.set_team_id:
            parts.append(f"team #{obj.set_team_id}")
        return format_html("{}", ", ".join(parts) or "-")


# --- macros (owner: tkt; saved through caseline.tickets.macros so they are validated and
# audited) -------------------------------------------------------------------------------------


class MacroAdminForm(forms.ModelForm):
    def clean_actions(self):
        from .macros import clean_actions

        try:
            return clean_actions(self.cleaned_data.get("actions"))
        except DomainError as exc:
            raise forms.ValidationError("; ".join(f"{k}: {v}" for k, v in exc.fields.items()))


def _register_macro_admin() -> None:
    from .macros import create_macro, delete_macro, update_macro
    from .models import Macro

    @admin.register(Macro)
    class MacroAdmin(admin.ModelAdmin):
        form = MacroAdminForm
        list_display = ("name", "shared", "owner", "active", "updated_at")
        list_filter = ("shared", "active")
        search_fields = ("name", "body")
        fields = ("name", "body", "actions", "shared", "active")

        def save_model(self, request, obj, form, change):
            data = {k: form.cleaned_data[k] for k in self.fields}
            try:
                if change:
                    saved = update_macro(obj.pk, actor=request.user, **data)
                else:
                    saved = create_macro(actor=request.user, **data)
            except DomainError as exc:
                messages.error(request, exc.message)
                return
            obj.pk = saved.pk

        def delete_model(self, request, obj):
            delete_macro(obj.pk, actor=request.user)


_register_macro_admin()
