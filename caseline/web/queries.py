"""Read paths of the support dashboard (the web app sits above every other app and may
read them all). Each figure is one aggregate query over indexed columns or one bounded
window (this week / today), never a scan of every ticket's history.

- open backlog by team and severity: unsolved tickets (``ticket_status_idx``)
- SLA achievement this week, per target kind: clocks that ended this week; met = fulfilled
  without breaching, missed = breached this week
- first reply time median this week: from a ticket's creation to its first public staff
  reply, for the tickets first answered this week (wall time)
- breaches today, and per day for the last 7 days
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from caseline.accounts.models import Team, User
from caseline.sla.models import Clock
from caseline.tickets.models import Message, Ticket
from caseline.tickets.states import OPEN_STATUSES
from caseline.timesource import now


def _day_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _week_start(moment: datetime) -> datetime:
    day = _day_start(moment)
    return day - timedelta(days=day.weekday())


def backlog() -> dict[str, Any]:
    """Unsolved tickets per team and severity (reads the unsolved rows through
    ticket_status_idx; a covering (status, team, severity) index made SQLite plan the
    queues through it instead of the SLA deadline index, so there is none)."""
    rows = (
        Ticket.objects.filter(status__in=sorted(OPEN_STATUSES))
        .values("team_id", "severity")
        .annotate(n=Count("id"))
        .order_by()
    )
    names = dict(Team.objects.values_list("id", "name"))
    teams: dict[str, dict[int, int]] = {}
    for r in rows:
        name = names.get(r["team_id"], "No team") if r["team_id"] else "No team"
        counts = teams.setdefault(name, {1: 0, 2: 0, 3: 0, 4: 0})
        counts[r["severity"]] = counts.get(r["severity"], 0) + r["n"]
    ordered = sorted(teams.items(), key=lambda kv: (kv[0] == "No team", kv[0]))
    return {
        "teams": [name for name, _ in ordered],
        "by_severity": {sev: [counts[sev] for _, counts in ordered] for sev in (1, 2, 3, 4)},
        "total": sum(sum(c.values()) for _, c in ordered),
    }


def sla_achievement(start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = (
        Clock.objects.filter(
            Q(fulfilled_at__gte=start, fulfilled_at__lt=end)
            | Q(breached_at__gte=start, breached_at__lt=end)
        )
        .values("kind")
        .annotate(
            met=Count(
                "id",
                filter=Q(fulfilled_at__gte=start, fulfilled_at__lt=end, breached_at__isnull=True),
            ),
            missed=Count("id", filter=Q(breached_at__gte=start, breached_at__lt=end)),
        )
        .order_by("kind")
    )
    out = []
    for r in rows:
        total = r["met"] + r["missed"]
        pct = round(100.0 * r["met"] / total, 1) if total else None
        out.append({"kind": r["kind"], "met": r["met"], "missed": r["missed"], "percent": pct})
    return out


def first_reply_median_seconds(start: datetime, end: datetime) -> float | None:
    """Median wall time from a ticket's creation to its first public staff reply, over
    the tickets whose first such reply fell in [start, end). Bounded by the window's
    replies: one query over them, one grouped query over those tickets' staff replies."""
    staff_public = Message.objects.filter(
        kind=Message.Kind.PUBLIC, author_user__isnull=False, author_user__kind=User.Kind.STAFF
    )
    in_window = staff_public.filter(created_at__gte=start, created_at__lt=end)
    rows = (
        staff_public.filter(ticket_id__in=in_window.values("ticket_id"))
        .values("ticket_id", "ticket__created_at")
        .annotate(first=Min("created_at"))
        .order_by()
    )
    values = [
        (r["first"] - r["ticket__created_at"]).total_seconds()
        for r in rows
        if start <= r["first"] < end
    ]
    return median(values) if values else None


def breaches_per_day(days: int = 7) -> list[dict[str, Any]]:
    today = _day_start(now())
    first = today - timedelta(days=days - 1)
    stamps = Clock.objects.filter(breached_at__gte=first).values_list("breached_at", flat=True)
    counts = {(first + timedelta(days=i)).date(): 0 for i in range(days)}
    for at in stamps:
        day = timezone.localtime(at).date()
        if day in counts:
            counts[day] += 1
    return [{"day": d.isoformat(), "breaches": n} for d, n in counts.items()]


def dashboard(*, max_age: int | None = None) -> dict[str, Any]:
    """Every figure of the dashboard; cached for ``CASELINE_DASHBOARD_CACHE_SECONDS`` (60)
    in Django's cache (the page shows "as of")."""
    from django.conf import settings
    from django.core.cache import cache

    if max_age is None:
        max_age = int(getattr(settings, "CASELINE_DASHBOARD_CACHE_SECONDS", 60))
    key = f"caseline:dashboard:{timezone.get_current_timezone_name()}"
    if max_age > 0:
        cached = cache.get(key)
        if cached is not None and (now() - cached["now"]).total_seconds() < max_age:
            return cached
    data = _compute()
    if max_age > 0:
        cache.set(key, data, max_age)
    return data


def _compute() -> dict[str, Any]:
    current = now()
    week = _week_start(current)
    per_day = breaches_per_day(7)
    return {
        "now": current,
        "week_start": week,
        "backlog": backlog(),
        "achievement": sla_achievement(week, current + timedelta(seconds=1)),
        "first_reply_median": first_reply_median_seconds(week, current + timedelta(seconds=1)),
        "breaches_per_day": per_day,
        "breaches_today": per_day[-1]["breaches"] if per_day else 0,
    }
