from django.contrib import admin

from .models import Layer, LayerMember, Override, Schedule


class LayerInline(admin.StackedInline):
    model = Layer
    extra = 0
    fields = (
        "name",
        "position",
        "start_date",
        "handoff_time",
        "rotation_days",
        "restrictions",
        "ends_at",
    )
    show_change_link = True


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 0
    fields = ("user", "start", "end", "reason")
    autocomplete_fields = ("user",)


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "region", "time_zone", "active", "on_duty_now")
    list_filter = ("region", "active")
    search_fields = ("name",)
    inlines = [LayerInline, OverrideInline]

    @admin.display(description="on duty now")
    def on_duty_now(self, obj: Schedule) -> str:
        from . import queries

        segs = queries.shifts(obj, *_now_window())
        if not segs or not segs[0].user_ids:
            return "nobody"
        from caseline.accounts.models import User

        users = User.objects.in_bulk(list(segs[0].user_ids))
        return ", ".join(str(users[i]) for i in segs[0].user_ids if i in users)


def _now_window():
    from datetime import timedelta

    from caseline.timesource import now

    t = now()
    return t, t + timedelta(seconds=1)


class LayerMemberInline(admin.TabularInline):
    model = LayerMember
    extra = 1
    fields = ("position", "user")
    autocomplete_fields = ("user",)


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    list_display = ("__str__", "position", "start_date", "handoff_time", "rotation_days")
    list_filter = ("schedule",)
    inlines = [LayerMemberInline]


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    list_display = ("schedule", "user", "start", "end", "reason")
    list_filter = ("schedule",)
    date_hierarchy = "start"
    autocomplete_fields = ("user",)
