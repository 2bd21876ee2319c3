from django.contrib import admin

from .models import Escalation, EscalationRequest, EscalationType


@admin.register(EscalationType)
class EscalationTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "active")


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    """Read-only: escalations change through the API (services append the audit events)."""

    list_display = ("id", "title", "organization", "status", "severity", "owner", "opened_at")
    list_filter = ("status", "severity")
    search_fields = ("title", "organization__name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EscalationRequest)
class EscalationRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "organization", "status", "requested_by", "requested_at")
    list_filter = ("status",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
