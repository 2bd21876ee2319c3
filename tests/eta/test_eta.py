"""ETA commitments: promised with a public staff reply (API field), superseded by a new
ETA, met by a later public staff reply or solving, reminded before and missed at the due
time by the clock (timers), counted per ticket and per agent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.errors import ValidationFailed
from caseline.eta import services
from caseline.eta.models import ETA
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.tickets import services as tickets
from caseline.tickets.models import Message

pytestmark = pytest.mark.django_db


def reply(client, ticket, eta=None, kind="public", text="Looking into it."):
    body = {"kind": kind, "body_text": text}
    if eta is not None:
        body["eta"] = eta if isinstance(eta, str) else eta.isoformat()
    return client.post(
        f"/api/v1/tickets/{ticket.pk}/messages", body, content_type="application/json"
    )


def types(ticket) -> list[str]:
    return list(
        AuditEvent.objects.filter(ticket_id=ticket.pk, type__startswith="eta.")
        .order_by("id")
        .values_list("type", flat=True)
    )


def test_reply_with_eta_promises_and_schedules_timers(world, api_client, frozen):
    t = world.ticket()
    due = frozen + timedelta(hours=2)
    r = reply(api_client(world.agent), t, due)
    assert r.status_code == 201, r.content
    eta = ETA.objects.get()
    assert (eta.status, eta.owner, eta.due_at, eta.message_id) == (
        "pending",
        world.agent,
        due,
        r.json()["id"],
    )
    keys = dict(Timer.objects.filter(subject_type="eta").values_list("kind", "due_at"))
    assert keys == {"eta.reminder": due - timedelta(minutes=30), "eta.due": due}
    assert types(t) == ["eta.promised"]


@pytest.mark.parametrize(
    "case",
    ["past", "now", "naive", "internal", "customer", "solved", "garbage"],
)
def test_refused_etas_take_the_reply_back(world, api_client, frozen, case):
    t = world.ticket()
    client = api_client(world.agent)
    eta = (frozen + timedelta(hours=1)).isoformat()
    kind = "public"
    if case == "past":
        eta = (frozen - timedelta(minutes=1)).isoformat()
    elif case == "now":
        eta = frozen.isoformat()
    elif case == "naive":
        eta = "2026-03-24T15:00:00"
    elif case == "internal":
        kind = "internal"
    elif case == "customer":
        client = api_client(world.customer)
    elif case == "solved":
        t.status = "solved"
        t.save()
    elif case == "garbage":
        eta = "by teatime"
    before = Message.objects.filter(ticket=t).count()
    r = reply(client, t, eta, kind=kind)
    assert r.status_code == 422, r.content
    assert r.json()["error"]["code"] == "validation_error"
    assert "eta" in r.json()["error"]["fields"]
    assert Message.objects.filter(ticket=t).count() == before
    assert not ETA.objects.exists()
    assert not Timer.objects.filter(subject_type="eta").exists()


def test_a_new_eta_supersedes_the_pending_one(world, api_client, frozen):
    t = world.ticket()
    client = api_client(world.agent)
    reply(client, t, frozen + timedelta(hours=2))
    first = ETA.objects.get()
    r = reply(client, t, frozen + timedelta(hours=5), text="Still on it, new ETA.")
    assert r.status_code == 201
    first.refresh_from_db()
    second = ETA.objects.exclude(pk=first.pk).get()
    assert first.status == "superseded" and first.superseded_by_id == second.pk
    assert first.met_at is None
    assert second.status == "pending"
    assert types(t)[-1] == "eta.promised"
    assert "eta.superseded" in types(t)
    # the old timers are cancelled: nothing fires for the first ETA
    assert not Timer.objects.filter(subject_id=first.pk, cancelled_at__isnull=True).exists()


def test_a_later_public_staff_reply_meets_it(world, api_client, frozen):
    t = world.ticket()
    reply(api_client(world.agent), t, frozen + timedelta(hours=2))
    # an internal note and a customer message do not meet it
    reply(api_client(world.agent), t, kind="internal", text="checking logs")
    tickets.add_message(t, actor=world.customer, kind="public", body_text="any news?")
    assert ETA.objects.get().status == "pending"
    timesource.advance(3600)
    r = reply(api_client(world.other), t, text="Fixed: the replica caught up.")
    eta = ETA.objects.get()
    assert eta.status == "met" and eta.met_message_id == r.json()["id"]
    assert eta.met_at == frozen + timedelta(hours=1)
    assert types(t) == ["eta.promised", "eta.met"]
    assert not Timer.objects.filter(subject_type="eta", cancelled_at__isnull=True).exists()


def test_solving_meets_it(world, api_client, frozen):
    t = world.ticket()
    reply(api_client(world.agent), t, frozen + timedelta(hours=2))
    tickets.update_ticket(t, actor=world.agent, status="solved")
    eta = ETA.objects.get()
    assert eta.status == "met" and eta.met_message_id is None
    ev = AuditEvent.objects.get(ticket_id=t.pk, type="eta.met")
    assert ev.data["reason"] == "solved"


def test_reminder_then_miss_fired_by_the_clock(world, api_client, frozen):
    t = world.ticket()
    due = frozen + timedelta(hours=2)
    reply(api_client(world.agent), t, due)
    eta = ETA.objects.get()
    timesource.set_time(due - timedelta(minutes=30, seconds=1))
    assert timers.fire_all_due() == 0
    timesource.set_time(due - timedelta(minutes=30))
    assert timers.fire_all_due() == 1
    eta.refresh_from_db()
    assert eta.reminded_at == due - timedelta(minutes=30) and eta.status == "pending"
    mail = OutboxMessage.objects.get(idempotency_key=f"eta-{eta.pk}-reminder")
    assert mail.payload["to"] == [world.agent.email]
    assert "30 min" in mail.payload["subject"]
    timesource.set_time(due)
    assert timers.fire_all_due() == 1
    eta.refresh_from_db()
    assert eta.status == "missed" and eta.missed_at == due
    assert types(t) == ["eta.promised", "eta.reminded", "eta.missed"]
    # a reply after the miss changes nothing
    reply(api_client(world.agent), t, text="sorry for the delay")
    eta.refresh_from_db()
    assert eta.status == "missed"


def test_reminder_lead_is_configurable_and_skipped_when_too_late(world, settings, frozen):
    settings.ETA_REMINDER_LEAD_MINUTES = 10
    t = world.ticket()
    msg = tickets.add_message(t, actor=world.agent, kind="public", body_text="on it")
    eta = services.promise(t, message=msg, due_at=frozen + timedelta(hours=1), actor=world.agent)
    assert Timer.objects.get(key=f"eta:{eta.pk}:reminder").due_at == eta.due_at - timedelta(
        minutes=10
    )
    msg2 = tickets.add_message(t, actor=world.agent, kind="public", body_text="soon")
    eta2 = services.promise(
        t, message=msg2, due_at=frozen + timedelta(minutes=5), actor=world.agent
    )
    assert not Timer.objects.filter(key=f"eta:{eta2.pk}:reminder").exists()
    assert Timer.objects.filter(key=f"eta:{eta2.pk}:due").exists()


def test_met_eta_timers_do_nothing_even_if_fired(world, api_client, frozen):
    t = world.ticket()
    reply(api_client(world.agent), t, frozen + timedelta(hours=2))
    eta = ETA.objects.get()
    reply(api_client(world.agent), t, text="done")
    Timer.objects.filter(subject_type="eta").update(cancelled_at=None)  # a late cancel race
    timesource.set_time(frozen + timedelta(hours=3))
    timers.fire_all_due()
    eta.refresh_from_db()
    assert eta.status == "met" and eta.reminded_at is None and eta.missed_at is None


def test_service_refuses_a_message_of_another_ticket(world, frozen):
    t1, t2 = world.ticket(), world.ticket()
    msg = tickets.add_message(t2, actor=world.agent, kind="public", body_text="x")
    with pytest.raises(ValidationFailed):
        services.promise(t1, message=msg, due_at=frozen + timedelta(hours=1), actor=world.agent)


def test_api_lists_and_counts(world, api_client, frozen):
    t1, t2 = world.ticket(), world.ticket()
    agent = api_client(world.agent)
    reply(agent, t1, frozen + timedelta(hours=1))
    reply(api_client(world.other), t2, frozen + timedelta(hours=1))
    timesource.set_time(frozen + timedelta(hours=1))
    timers.fire_all_due()  # both missed
    reply(agent, t1, frozen + timedelta(hours=3))  # a second promise, pending
    r = agent.get(f"/api/v1/tickets/{t1.pk}/etas")
    assert r.status_code == 200
    body = r.json()
    assert body["counts"] == {"total": 2, "pending": 1, "met": 0, "missed": 1, "superseded": 0}
    assert body["current"]["status"] == "pending"
    assert [e["status"] for e in body["results"]] == ["pending", "missed"]
    # the customer sees the ETAs of their own ticket
    assert api_client(world.customer).get(f"/api/v1/tickets/{t1.pk}/etas").status_code == 200
    r = api_client(world.manager).get("/api/v1/eta/misses")
    assert r.status_code == 200
    agents = {a["agent_id"]: a for a in r.json()["agents"]}
    assert agents[world.agent.pk]["missed"] == 1 and agents[world.agent.pk]["pending"] == 1
    assert agents[world.other.pk]["missed"] == 1
    assert {x["ticket_id"] for x in r.json()["tickets"]} == {t1.pk, t2.pk}
    r = api_client(world.manager).get(f"/api/v1/eta/misses?agent={world.other.pk}")
    assert [a["agent_id"] for a in r.json()["agents"]] == [world.other.pk]
    assert r.json()["tickets"] == [{"ticket_id": t2.pk, "missed": 1}]
    assert api_client(world.customer).get("/api/v1/eta/misses").status_code == 403
    assert api_client(world.manager).get("/api/v1/eta/misses?since=2026-01-01").status_code == 422


def test_pending_eta_follows_reassignment(world, api_client, frozen):
    from caseline.tickets import services as ticket_services

    t = world.ticket()
    due = frozen + timedelta(hours=2)
    reply(api_client(world.agent), t, due)
    ticket_services.update_ticket(t, actor=world.manager, assignee=world.other)
    eta = ETA.objects.get()
    assert eta.owner_id == world.other.pk
    timesource.set_time(due - timedelta(minutes=30))
    assert timers.fire_all_due() == 1
    mail = OutboxMessage.objects.get(idempotency_key=f"eta-{eta.pk}-reminder")
    assert mail.payload["to"] == [world.other.email]
    ticket_services.update_ticket(t, actor=world.manager, assignee=None)  # keeps the owner
    assert ETA.objects.get().owner_id == world.other.pk
