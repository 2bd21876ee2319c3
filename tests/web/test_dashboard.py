"""The support dashboard's figures against tickets worked through the services and the
clock: backlog by team and severity, SLA achievement this week, first reply median,
breaches today."""

from __future__ import annotations

import json
import re

import pytest

from caseline.sla.timers import fire_all_due
from caseline.tickets import services as tickets

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_figures():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_dashboard_figures(ws, login, frozen):
    alice, red, blue = ws["alice"], ws["red"], ws["blue"]
    t = ws["ticket"]
    answered = t("Answered in 20 minutes", team=red, severity=2)
    late = t("Never answered", team=red, severity=1)
    t("Blue backlog", team=blue, severity=3)
    solved = t("Solved already", team=blue, severity=4, assignee=alice)
    tickets.update_ticket(solved, actor=alice, status="solved")
    frozen.advance(20 * 60)
    tickets.add_message(answered, actor=alice, kind="public", body_text="We are on it.")
    frozen.advance(45 * 60)  # 65 min: the 1 h acknowledgement of "late" is breached
    fire_all_due()

    from caseline.web import queries

    data = queries.dashboard(max_age=0)
    backlog = data["backlog"]
    assert backlog["teams"] == ["Blue team", "Red team"]
    assert backlog["by_severity"][1] == [0, 1] and backlog["by_severity"][2] == [0, 1]
    assert backlog["by_severity"][3] == [1, 0] and backlog["total"] == 3  # solved is out
    ack = {a["kind"]: a for a in data["achievement"]}["acknowledge"]
    assert ack["missed"] >= 1 and ack["met"] >= 1
    assert data["first_reply_median"] == 20 * 60
    assert data["breaches_today"] >= 1
    assert late.pk  # the breached one

    html = login(alice).get("/dashboard/").content.decode()
    assert 'id="stat-backlog">3<' in html
    assert 'id="stat-first-reply">20m 00s<' in html
    assert "vendor/chart.umd.min.js" in html
    payload = json.loads(
        re.search(
            r'<script id="dashboard-data" type="application/json">(.*?)</script>', html
        ).group(1)
    )
    assert payload["backlog"]["teams"] == ["Blue team", "Red team"]


def test_dashboard_needs_staff(ws, client):
    assert client.get("/dashboard/").status_code == 302


def test_figures_are_cached_for_a_minute(ws, frozen):
    from caseline.web import queries

    assert queries.dashboard()["backlog"]["total"] == 0
    ws["ticket"]("New one", team=ws["red"])
    assert queries.dashboard()["backlog"]["total"] == 0  # as of the cached minute
    frozen.advance(61)
    assert queries.dashboard()["backlog"]["total"] == 1
