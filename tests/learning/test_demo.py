"""The demo's post-mortems: history for the trends page and one published post-mortem."""

from __future__ import annotations

import pytest

from caseline.demo.learning import HISTORY, seed_learning
from caseline.learning import queries
from caseline.learning.models import PostMortem

pytestmark = pytest.mark.django_db


class Report:
    def __init__(self):
        self.counts: dict[str, int] = {}

    def add(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n


def test_demo_seeds_history_and_a_published_postmortem(world):
    for i in range(8):
        world.ticket(area=world.area if i % 2 else world.area2)
    users = {"rahul.mehta": world.em, "priya.natarajan": world.lead, "sam.carter": world.agent}
    report = Report()
    seed_learning(report, users)
    assert report.counts["post-mortems"] == len(HISTORY)
    assert PostMortem.objects.filter(status="published").count() == len(HISTORY)
    latest = PostMortem.objects.order_by("-id").first()
    assert set(latest.action_items.values_list("status", flat=True)) == {"done", "open", "wont_do"}
    t = queries.trends()
    assert t["totals"]["escalations"] == len(HISTORY)
    assert any(r["reason"] == "same category and product area" for r in t["recurring"])
    assert t["mttr"]["escalations"] is not None
    seed_learning(report, users)  # a second run adds nothing
    assert PostMortem.objects.count() == len(HISTORY)
