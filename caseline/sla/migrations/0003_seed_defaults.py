"""Seed the default calendars and SLA policies of SPEC section 3 (only when none exist)."""

from django.db import migrations

H, M = 3600, 60

CALENDARS = [
    # name, description, time zone, hours, holidays
    ("amer-business", "AMER office hours (default)", "America/New_York", "Mon-Fri 08:00-17:00",
     [{"country": "US", "subdiv": None, "categories": ["public"]}]),
    ("emea-business", "EMEA office hours", "Europe/Berlin", "Mon-Fri 08:00-17:00",
     [{"country": "DE", "subdiv": "BE", "categories": ["public"]}]),
    ("apac-business", "APAC office hours", "Asia/Singapore", "Mon-Fri 08:00-17:00",
     [{"country": "SG", "subdiv": None, "categories": ["public"]}]),
    ("24x7", "Around the clock (calendar time)", "UTC", "24x7", []),
]

# name, position, role, conditions, pause statuses, targets
# target: kind, seconds, business calendar (None = calendar time), after-hours calendar, rules
POLICIES = [
    (
        "Sev-1 around the clock", 10, "support_engineer", {"severities": [1]}, ["pending"],
        [
            ("acknowledge", 1 * H, None, None,
             [("after_breach", 0, "notify", {"to": ["assignee", "team_lead"]})]),
            ("owner_assigned", 15 * M, None, None,
             [("after_breach", 0, "notify", {"to": ["team_lead", "manager"]})]),
            ("periodic_update", 1 * H, None, None,
             [("percent", 75, "notify", {"to": ["assignee"]}),
              ("after_breach", 0, "notify", {"to": ["assignee", "team_lead", "escalation_manager"]})]),
        ],
    ),
    (
        "Premium chat and phone", 20, "support_engineer",
        {"tiers": ["premium"], "channels": ["chat", "phone"]}, ["pending"],
        [
            ("actionable", 15 * M, None, None,
             [("percent", 75, "notify", {"to": ["assignee"]})]),
            ("resolution", 30 * M, None, None,
             [("after_breach", 0, "hand_to_sme", {})]),
        ],
    ),
    (
        "Support engineer (default)", 100, "support_engineer", {}, ["pending"],
        [
            ("acknowledge", 1 * H, "amer-business", "24x7",
             [("percent", 75, "notify", {"to": ["assignee"]}),
              ("after_breach", 0, "notify", {"to": ["assignee", "team_lead"]})]),
            ("actionable", 24 * H, "amer-business", None,
             [("percent", 75, "notify", {"to": ["assignee"]}),
              ("after_breach", 0, "notify", {"to": ["assignee", "team_lead"]})]),
            ("resolution", 72 * H, "amer-business", None,
             [("percent", 75, "notify", {"to": ["assignee"]}),
              ("after_breach", 0, "raise_priority", {}),
              ("after_breach", 1 * H, "notify", {"to": ["manager"]})]),
        ],
    ),
    (
        "Sales consultant (default)", 100, "sales_consultant", {}, ["pending"],
        [
            ("acknowledge", 15 * M, "amer-business", None,
             [("after_breach", 0, "notify", {"to": ["team_lead"]})]),
            ("actionable", 1 * H, "amer-business", None,
             [("after_breach", 0, "notify", {"to": ["team_lead"]})]),
        ],
    ),
]


def seed(apps, schema_editor):
    Calendar = apps.get_model("sla", "Calendar")
    Policy = apps.get_model("sla", "Policy")
    Target = apps.get_model("sla", "Target")
    Rule = apps.get_model("sla", "EscalationRule")
    if Calendar.objects.exists() or Policy.objects.exists():
        return
    cals = {}
    for version, (name, desc, tz, hours, hol) in enumerate(CALENDARS, start=1):
        cals[name] = Calendar.objects.create(
            name=name, description=desc, kind="hours", time_zone=tz, hours=hours,
            holidays=hol, version=version,
        )
    sun = Calendar.objects.create(
        name="follow-the-sun", description="AMER + EMEA + APAC office hours",
        kind="union", time_zone="UTC", hours="", version=len(CALENDARS) + 1,
    )
    sun.members.set([cals["amer-business"], cals["emea-business"], cals["apac-business"]])
    for name, position, role, cond, pause, targets in POLICIES:
        policy = Policy.objects.create(
            name=name, position=position, role=role, pause_statuses=pause,
            tiers=cond.get("tiers", []), severities=cond.get("severities", []),
            channels=cond.get("channels", []), product_areas=[],
        )
        for kind, seconds, cal, after, rules in targets:
            t = Target.objects.create(
                policy=policy, kind=kind, seconds=seconds, business=cal is not None,
                calendar=cals.get(cal) if cal else None,
                after_hours_calendar=cals.get(after) if after else None,
            )
            for order, (thr, value, action, params) in enumerate(rules):
                Rule.objects.create(
                    target=t, order=order, threshold=thr, value=value, action=action,
                    params=params,
                )


def unseed(apps, schema_editor):
    pass  # keep whatever the administrators changed


class Migration(migrations.Migration):
    dependencies = [("sla", "0002_calendars_policies_clocks")]

    operations = [migrations.RunPython(seed, unseed)]
