from __future__ import annotations

from django.contrib import admin, messages

from caseline.errors import Conflict, NotFound

from . import timers
from .models import Timer


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("pending", "Pending"),
            ("retrying", "Pending, retrying after an error"),
            ("fired", "Fired"),
            ("cancelled", "Cancelled"),
            ("failed", "Failed (gave up)"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "pending":
            return queryset.filter(timers.PENDING)
        if value == "retrying":
            return queryset.filter(timers.PENDING, attempts__gt=0)
        if value == "fired":
            return queryset.filter(fired_at__isnull=False)
        if value == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        if value == "failed":
            return queryset.filter(failed_at__isnull=False)
        return queryset


@admin.register(Timer)
class TimerAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "subject",
        "key",
        "due_at",
        "fired_at",
        "state",
        "attempts",
        "short_error",
    )
    list_filter = (StateFilter, "kind", "subject_type")
    search_fields = ("key", "kind", "subject_type", "=subject_id")
    date_hierarchy = "due_at"
    ordering = ("-due_at",)
    show_full_result_count = False
    actions = ["retry_now"]
    readonly_fields = (
        "subject_type",
        "subject_id",
        "kind",
        "due_at",
        "key",
        "payload",
        "fired_at",
        "claimed_until",
        "attempts",
        "last_error",
        "created_at",
        "cancelled_at",
        "failed_at",
    )

    def has_add_permission(self, request):
        return False  # timers are written by services, never by hand

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what fired stays

    @admin.display(description="subject")
    def subject(self, obj: Timer) -> str:
        return f"{obj.subject_type}#{obj.subject_id}"

    @admin.display(description="last error")
    def short_error(self, obj: Timer) -> str:
        return obj.last_error[:80]

    @admin.action(description="Re-arm the selected failed or cancelled timers (fire now)")
    def retry_now(self, request, queryset):
        done = 0
        for timer in queryset.filter(fired_at__isnull=True):
            try:
                timers.retry(timer.pk, actor=request.user)
                done += 1
            except (NotFound, Conflict) as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{done} timer(s) re-armed.")
