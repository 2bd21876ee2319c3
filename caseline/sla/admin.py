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


# --- calendars and policies ------------------------------------------------------------------

from django import forms  # noqa: E402
from django.db import transaction  # noqa: E402

from .models import Calendar, Clock, EscalationRule, Policy, Target, TicketSla  # noqa: E402


def _after_config_change(calendars=(), target_ids=(), rematch: bool = False) -> None:
    """Admin edits go through the same cache invalidation, recompute and re-match as the
    API."""
    from . import calendars as calmod
    from .services import recompute, rematch_open

    calmod.invalidate()
    transaction.on_commit(calmod.invalidate)
    recompute(calendars=calendars, target_ids=target_ids)
    if rematch:
        rematch_open()


class CalendarForm(forms.ModelForm):
    class Meta:
        model = Calendar
        fields = (
            "name",
            "description",
            "kind",
            "time_zone",
            "hours",
            "holidays",
            "closed_dates",
            "extra_open",
            "members",
        )

    def clean(self):
        from caseline.errors import ValidationFailed

        from .calendars import clean_hours_fields

        data = super().clean()
        if data.get("kind") == Calendar.Kind.HOURS:
            try:
                data.update(
                    clean_hours_fields(
                        {
                            k: data.get(k)
                            for k in (
                                "time_zone",
                                "hours",
                                "holidays",
                                "closed_dates",
                                "extra_open",
                            )
                        }
                    )
                )
            except ValidationFailed as exc:
                for field, msg in exc.fields.items():
                    self.add_error(field.split(".")[0], msg)
        elif data.get("kind") == Calendar.Kind.UNION and not data.get("members"):
            self.add_error("members", "a union needs at least one member calendar")
        return data


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    form = CalendarForm
    list_display = ("name", "kind", "time_zone", "hours", "version", "updated_at")
    search_fields = ("name", "description")
    filter_horizontal = ("members",)

    def save_related(self, request, form, formsets, change):
        from django.db.models import Max

        from caseline.timesource import now

        super().save_related(request, form, formsets, change)
        cal = form.instance
        cal.version = int(Calendar.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        cal.updated_at = now()
        cal.save(update_fields=["version", "updated_at"])
        from .config import _dependants

        _after_config_change(calendars=_dependants(cal.name))

    def has_delete_permission(self, request, obj=None):
        from .config import calendar_users

        if obj is not None and calendar_users(obj):
            return False  # in use: the API answers 409 for the same reason
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        from .config import delete_calendar

        delete_calendar(obj, request.user)

    def delete_queryset(self, request, queryset):
        from django.contrib import messages

        from caseline.errors import Conflict

        from .config import delete_calendar

        for cal in queryset:
            try:
                delete_calendar(cal, request.user)
            except Conflict as exc:
                self.message_user(request, str(exc), messages.ERROR)


class EscalationRuleInline(admin.TabularInline):
    model = EscalationRule
    extra = 0


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0
    show_change_link = True


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "position", "active", "severities", "tiers", "channels")
    list_filter = ("role", "active")
    ordering = ("position", "id")
    inlines = [TargetInline]

    def save_related(self, request, form, formsets, change):
        from caseline.timesource import now

        super().save_related(request, form, formsets, change)
        policy = form.instance
        Policy.objects.filter(pk=policy.pk).update(updated_at=now())
        _after_config_change(
            target_ids=list(policy.targets.values_list("pk", flat=True)), rematch=True
        )

    def delete_model(self, request, obj):
        from .config import delete_policy

        delete_policy(obj, request.user)

    def delete_queryset(self, request, queryset):
        from .config import delete_policy

        for policy in queryset:
            delete_policy(policy, request.user)


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ("policy", "kind", "seconds", "business", "calendar", "after_hours_calendar")
    list_filter = ("kind", "business")
    inlines = [EscalationRuleInline]

    def save_related(self, request, form, formsets, change):
        from caseline.timesource import now

        super().save_related(request, form, formsets, change)
        target = form.instance
        Policy.objects.filter(pk=target.policy_id).update(updated_at=now())
        _after_config_change(target_ids=[target.pk], rematch=True)


@admin.register(Clock)
class ClockAdmin(admin.ModelAdmin):
    list_display = ("ticket_id", "key", "cycle", "state", "due_at", "consumed", "calendar")
    list_filter = ("state", "kind", "role")
    search_fields = ("=ticket__id",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TicketSla)
class TicketSlaAdmin(admin.ModelAdmin):
    list_display = ("ticket_id", "next_deadline", "updated_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
