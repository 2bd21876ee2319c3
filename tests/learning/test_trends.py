"""Trends on a known data set: counts by month, product area, organization and
root-cause category; recurring root causes; MTTA and MTTR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline.learning import queries
from caseline.learning.models import PostMortem, RootCauseCategory

pytestmark = pytest.mark.django_db

D = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
H = 3600


def _esc(world, org, area, opened, active=None, resolved=None, title="E"):
    from caseline.escalations.models import Escalation

    t = world.ticket(
        org=org, contact=world.contact if org == world.org else world.contact2, area=area
    )
    esc = Escalation.objects.create(
        title=title,
        organization=org,
        opened_at=opened,
        active_at=active,
        resolved_at=resolved,
        status="resolved" if resolved else "open",
    )
    esc.tickets.add(t)
    return esc


def _inc(world, orgs, areas, declared, ack=None, resolved=None):
    from caseline.incidents.models import Incident, Page

    inc = Incident.objects.create(
        title="I",
        declared_at=declared,
        resolved_at=resolved,
        status="resolved" if resolved else "investigating",
    )
    inc.organizations.add(*orgs)
    inc.product_areas.add(*areas)
    if ack:
        Page.objects.create(
            incident=inc,
            reason="on_duty",
            recipient=world.im,
            sent_at=declared,
            ack_due_at=declared + timedelta(minutes=5),
            state="acknowledged",
            acknowledged_at=ack,
        )
    return inc


def _pm(esc=None, inc=None, cat=None, area=None, resolved=None, cause=""):
    return PostMortem.objects.create(
        escalation=esc,
        incident=inc,
        title="pm",
        root_cause_category=cat,
        product_area=area,
        resolved_at=resolved,
        root_cause=cause,
    )


def test_trends_on_a_known_data_set(world):
    defect = RootCauseCategory.objects.get(name="Software defect")
    config = RootCauseCategory.objects.get(name="Configuration change")
    e1 = _esc(world, world.org, world.area, D, D + timedelta(hours=1), D + timedelta(hours=10))
    e2 = _esc(
        world,
        world.org,
        world.area,
        D + timedelta(days=31),
        D + timedelta(days=31, hours=3),
        D + timedelta(days=31, hours=30),
    )
    e3 = _esc(world, world.org2, world.area2, D + timedelta(days=32))  # open, no response
    i1 = _inc(
        world,
        [world.org, world.org2],
        [world.area],
        D + timedelta(days=2),
        ack=D + timedelta(days=2, minutes=10),
        resolved=D + timedelta(days=2, hours=4),
    )
    _inc(world, [world.org2], [world.area2], D + timedelta(days=33))
    _pm(
        esc=e1,
        cat=defect,
        area=world.area,
        resolved=e1.resolved_at,
        cause="Null pointer in the replication worker",
    )
    _pm(
        esc=e2,
        cat=defect,
        area=world.area,
        resolved=e2.resolved_at,
        cause="Different words entirely here",
    )
    _pm(
        inc=i1,
        cat=config,
        area=world.area,
        resolved=i1.resolved_at,
        cause="Replication worker null pointer crash",
    )
    assert e3.pk

    t = queries.trends(since=D - timedelta(days=1), until=D + timedelta(days=60))
    assert t["totals"] == {"escalations": 3, "incidents": 2}
    months = {r["key"]: (r["escalations"], r["incidents"]) for r in t["by_month"]}
    assert months == {"2026-09": (1, 1), "2026-10": (2, 1)}
    areas = {r["key"]: (r["escalations"], r["incidents"]) for r in t["by_product_area"]}
    assert areas == {"Replication": (2, 1), "Billing": (1, 1)}
    orgs = {r["key"]: (r["escalations"], r["incidents"]) for r in t["by_organization"]}
    assert orgs == {"Acme PM": (2, 1), "Globex PM": (1, 2)}
    cats = {r["key"]: (r["escalations"], r["incidents"]) for r in t["by_root_cause_category"]}
    assert cats == {"Software defect": (2, 0), "Configuration change": (0, 1)}
    # MTTA: escalations 1 h and 3 h -> 2 h; incident 10 min. MTTR: 10 h and 30 h -> 20 h; 4 h.
    assert t["mtta"]["escalations"] == 2 * H and t["mtta"]["escalations_n"] == 2
    assert t["mtta"]["incidents"] == 600 and t["mtta"]["incidents_n"] == 1
    assert t["mttr"]["escalations"] == 20 * H
    assert t["mttr"]["incidents"] == 4 * H

    rec = queries.recurring(until=D + timedelta(days=60))
    same = [r for r in rec if r["reason"] == "same category and product area"]
    assert len(same) == 1
    assert same[0]["category"] == "Software defect" and same[0]["product_area"] == "Replication"
    assert same[0]["count"] == 2
    similar = [r for r in rec if r["reason"] == "similar root cause"]
    assert len(similar) == 1 and similar[0]["count"] == 2
    # Older than 90 days: not recurring any more.
    assert queries.recurring(until=D + timedelta(days=200)) == []


def test_similarity():
    assert queries.similarity("Null pointer in the worker", "worker null pointer") == 1.0
    assert queries.similarity("disk full", "certificate expired") == 0.0
    assert queries.similarity("", "x") == 0.0
