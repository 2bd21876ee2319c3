"""Demo rotas for AMER / EMEA / APAC (called by ``caseline demo``; idempotent)."""

from __future__ import annotations

from datetime import date

from caseline.accounts.models import Region, User

# Follow the sun: each region covers its own business day (Mon-Fri 08:00-18:00 local),
# engineers take daily turns; AMER also keeps a weekly 24x7 backstop layer (nights and
# weekends) staffed by its leads.
START = date(2026, 1, 5)  # a Monday
BUSINESS = [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}]


def seed_demo_rotas() -> int:
    """Create the demo rotas that are missing; returns how many schedules were created."""
    from caseline.demo import content as C

    from . import services
    from .models import Schedule

    created = 0
    regions = {r.code: r for r in Region.objects.all()}
    users = {u.email: u for u in User.objects.filter(email__endswith="@" + C.DEMO_DOMAIN)}
    for code, _name, tz, _cal, _order in C.REGIONS:
        region = regions.get(code)
        if region is None:
            continue
        name = f"{code} on duty"
        if Schedule.objects.filter(name=name).exists():
            continue
        engineers = [
            users[f"{local}@{C.DEMO_DOMAIN}"]
            for local, _n, r, roles, _skills in C.STAFF
            if r == code and C.SE in roles and f"{local}@{C.DEMO_DOMAIN}" in users
        ]
        if not engineers:
            continue
        s = services.create_schedule(
            actor=None,
            region=region,
            name=name,
            time_zone=tz,
            description="Demo: business-day rotation (daily turns), follow the sun.",
        )
        services.add_layer(
            s,
            actor=None,
            name="Business day",
            position=2,
            start_date=START,
            handoff_time="08:00",
            rotation_days=1,
            member_ids=[u.pk for u in engineers],
            restrictions=BUSINESS,
        )
        if code == "AMER":
            leads = [
                users[f"{local}@{C.DEMO_DOMAIN}"]
                for local, _n, r, roles, _skills in C.STAFF
                if C.LEAD in roles and f"{local}@{C.DEMO_DOMAIN}" in users
            ]
            services.add_layer(
                s,
                actor=None,
                name="Backstop (nights, weekends)",
                position=1,
                start_date=START,
                handoff_time="09:00",
                rotation_days=7,
                member_ids=[u.pk for u in leads],
            )
        created += 1
    return created
