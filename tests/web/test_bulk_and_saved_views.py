"""Bulk actions go through the ticket services (audit events), refuse without permission
and leave everything unchanged; saved views are validated against the list registries."""

from __future__ import annotations

import json

import pytest

from caseline.audit.models import AuditEvent
from caseline.tickets.models import SavedView, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(ws):
    a = ws["ticket"]("Disk full", team=ws["red"])
    b = ws["ticket"]("Login loop", team=ws["red"])
    return a, b


def test_bulk_assign_two_tickets(ws, two, login):
    a, b = two
    c = login(ws["alice"])
    resp = c.post(
        "/queues/bulk",
        {"ids": [a.pk, b.pk], "action": "assign", "value": ws["bob"].pk},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 200 and resp["HX-Trigger"] == "queue-changed"
    assert "2 tickets changed" in resp.content.decode()
    assert set(Ticket.objects.filter(pk__in=[a.pk, b.pk]).values_list("assignee", flat=True)) == {
        ws["bob"].pk
    }
    events = AuditEvent.objects.filter(ticket_id__in=[a.pk, b.pk], field="assignee")
    assert events.count() == 2 and {e.actor_id for e in events} == {ws["alice"].pk}


def test_bulk_assign_to_me_and_status_and_tag(ws, two, login):
    a, b = two
    c = login(ws["alice"])
    c.post("/queues/bulk", {"ids": [a.pk, b.pk], "action": "assign", "value": "me"})
    c.post("/queues/bulk", {"ids": [a.pk], "action": "status", "value": "pending"})
    c.post("/queues/bulk", {"ids": [a.pk, b.pk], "action": "tag", "value": "Outage"})
    a.refresh_from_db(), b.refresh_from_db()
    assert a.assignee == ws["alice"] and b.assignee == ws["alice"]
    assert a.status == "pending" and b.status == "new"
    assert sorted(a.tags.values_list("name", flat=True)) == ["outage"]
    assert sorted(b.tags.values_list("name", flat=True)) == ["outage"]


def test_bulk_reports_each_refusal_and_keeps_the_others(ws, two, login):
    a, b = two
    c = login(ws["alice"])
    c.post("/queues/bulk", {"ids": [a.pk], "action": "assign", "value": "me"})
    resp = c.post(
        "/queues/bulk",
        {"ids": [a.pk, b.pk], "action": "status", "value": "solved"},
        HTTP_HX_REQUEST="true",
    )
    html = resp.content.decode()
    assert "1 ticket changed" in html
    assert f"CL-{b.pk}: assignee: required to solve" in html
    a.refresh_from_db(), b.refresh_from_db()
    assert a.status == "solved" and b.status == "new"


def test_bulk_without_permission_is_refused_and_changes_nothing(ws, two, login):
    a, b = two
    before = AuditEvent.objects.count()
    resp = login(ws["exec"]).post(
        "/queues/bulk", {"ids": [a.pk, b.pk], "action": "assign", "value": "me"}
    )
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "permission_denied"
    assert not Ticket.objects.filter(pk__in=[a.pk, b.pk], assignee__isnull=False).exists()
    assert AuditEvent.objects.count() == before


def test_bulk_bad_input_is_a_422(ws, two, login):
    c = login(ws["alice"])
    resp = c.post("/queues/bulk", {"ids": [], "action": "paint", "value": "x"})
    assert resp.status_code == 422
    assert set(resp.json()["error"]["fields"]) == {"ids", "action"}


def test_bulk_ignores_invisible_tickets_by_reporting_them(ws, two, login):
    a, _ = two
    resp = login(ws["alice"]).post(
        "/queues/bulk",
        {"ids": [a.pk, 999999], "action": "tag", "value": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert "CL-999999: no ticket CL-999999" in resp.content.decode()


def test_bulk_needs_csrf(ws, two):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(ws["alice"])
    resp = c.post("/queues/bulk", {"ids": [two[0].pk], "action": "assign", "value": "me"})
    assert resp.status_code == 403
    two[0].refresh_from_db()
    assert two[0].assignee is None


# --- saved views ------------------------------------------------------------------------


def save(c, name, filters, sort="newest", shared=False):
    data = {"name": name, "filters": json.dumps(filters), "sort": sort}
    if shared:
        data["shared"] = "1"
    return c.post("/queues/saved/", data)


def test_saved_view_rejects_unknown_filters_with_a_clear_message(ws, login):
    resp = save(login(ws["alice"]), "Colours", {"colour": "red", "severity": "1"})
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "validation_error"
    assert err["fields"]["colour"].startswith("unknown filter; use one of status, team,")
    assert "due_within" in err["fields"]["colour"] and "teams" in err["fields"]["colour"]
    assert not SavedView.objects.exists()


def test_saved_view_rejects_bad_values_sort_and_name(ws, login):
    c = login(ws["alice"])
    resp = save(c, "", {"severity": "9", "due_within": "soon"}, sort="colour")
    assert resp.status_code == 422
    fields = resp.json()["error"]["fields"]
    assert fields["name"] == "a view needs a name"
    assert fields["sort"].startswith("unknown sort; use one of newest, deadline")
    assert fields["severity"] == "must be between 1 and 4"
    assert fields["due_within"] == "a number of minutes"
    assert not SavedView.objects.exists()
    # filters that are not JSON at all: said so, on create and on update
    bad = c.post("/queues/saved/", {"name": "X", "filters": "{oops", "sort": "newest"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == {"filters": "must be a JSON object"}
    assert not SavedView.objects.exists()
    ok = save(c, "Mine", {"severity": "1"})
    view = SavedView.objects.get()
    assert ok.status_code == 302
    bad = c.post(f"/queues/v/{view.pk}/edit", {"filters": "{oops"})
    assert bad.status_code == 422 and SavedView.objects.get().filters == view.filters


def test_saved_view_lists_its_tickets_and_sharing(ws, two, login):
    a, b = two
    from django.test import Client

    from caseline.tickets import services as tickets

    client = Client()

    tickets.update_ticket(a, actor=ws["alice"], severity=2)
    c = login(ws["alice"])
    resp = save(c, "Sev-2 red", {"severity": "2", "team": str(ws["red"].pk)}, sort="deadline")
    assert resp.status_code == 302
    view = SavedView.objects.get()
    assert view.filters == {"severity": "2", "team": str(ws["red"].pk)}
    page = c.get(resp["Location"]).content.decode()
    assert f'data-id="{a.pk}"' in page and f'data-id="{b.pk}"' not in page
    assert AuditEvent.objects.filter(type="saved_view.changed", subject_id=view.pk).exists()
    # private: bob cannot open it; shared: he can, and cannot delete it
    client.force_login(ws["bob"])
    assert client.get(f"/queues/v/{view.pk}/").status_code == 404
    c.post(f"/queues/v/{view.pk}/edit", {"shared": "1"})
    assert client.get(f"/queues/v/{view.pk}/").status_code == 200
    assert client.post(f"/queues/v/{view.pk}/delete").status_code == 404
    assert c.post(f"/queues/v/{view.pk}/delete").status_code == 302
    assert not SavedView.objects.exists()


def test_duplicate_name_is_refused(ws, login):
    c = login(ws["alice"])
    assert save(c, "Mine", {"assignee": "me"}).status_code == 302
    resp = save(c, "mine", {"assignee": "me"})
    assert resp.status_code == 422
    assert resp.json()["error"]["fields"] == {"name": "you already have a view with this name"}


def test_custom_view_from_query_and_unknown_filter(ws, two, login):
    c = login(ws["alice"])
    resp = c.get(f"/queues/custom/?status=new&status=open&team={ws['red'].pk}&sort=deadline")
    html = resp.content.decode()
    assert resp.status_code == 200 and f'data-id="{two[0].pk}"' in html
    assert "Save view" in html
    bad = c.get("/queues/custom/?flavour=mint")
    assert bad.status_code == 422 and "flavour" in bad.json()["error"]["fields"]


def test_executive_may_read_queues_but_has_no_bulk_bar(ws, two, login):
    html = login(ws["exec"]).get("/queues/unassigned/").content.decode()
    assert 'id="bulk-bar"' not in html
