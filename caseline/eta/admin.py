from django.contrib import admin

from .models import ETA


@admin.register(ETA)
class ETAAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "ticket",
        "owner",
        "due_at",
        "status",
        "reminded_at",
        "met_at",
        "missed_at",
    )
    list_filter = ("status",)
    date_hierarchy = "due_at"
    raw_id_fields = ("ticket", "message", "met_message", "superseded_by", "owner")
    readonly_fields = (
        "ticket",
        "message",
        "owner",
        "due_at",
        "status",
        "created_at",
        "reminded_at",
        "met_at",
        "met_message",
        "missed_at",
        "superseded_at",
        "superseded_by",
    )

    def has_add_permission(self, request):
        return False  # ETAs come with replies (caseline.eta.services.promise)
