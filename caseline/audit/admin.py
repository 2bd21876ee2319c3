"""Read-only admin of the audit timeline: it is append-only, nobody edits history."""

from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "at",
        "type",
        "subject_type",
        "subject_id",
        "ticket_id",
        "field",
        "actor_label",
    )
    list_filter = ("type", "subject_type")
    search_fields = ("actor_label", "type", "field")
    date_hierarchy = "at"
    ordering = ("-id",)
    show_full_result_count = False
    readonly_fields = (
        "subject_type",
        "subject_id",
        "ticket_id",
        "type",
        "actor",
        "actor_label",
        "at",
        "field",
        "old",
        "new",
        "data",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
