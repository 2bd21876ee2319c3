"""Requests of the follow-the-sun handoff rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py). Each staff column acts on its own handoff: the
holder starts, the giver hands, the receiver acknowledges."""

from __future__ import annotations

from caseline.accounts.models import Region
from caseline.escalations import services
from caseline.escalations.models import Handoff
from caseline.timesource import now


def _regions(w):
    if getattr(w, "_handoff_regions", None) is None:
        a, _ = Region.objects.get_or_create(code="MXA", defaults={"name": "A", "handoff_order": 1})
        b, _ = Region.objects.get_or_create(code="MXB", defaults={"name": "B", "handoff_order": 2})
        w._handoff_regions = (a, b)
    return w._handoff_regions


def _in_region(user, region):
    if user.region_id != region.pk:
        user.region = region
        user.save(update_fields=["region"])
    return user


def _receiver(w):
    if getattr(w, "_handoff_receiver", None) is None:
        from caseline.accounts import roles
        from caseline.accounts.models import User

        _a, b = _regions(w)
        w._handoff_receiver = User.objects.create_user(
            username="mx-receiver@caseline.test",
            email="mx-receiver@caseline.test",
            region=b,
        )
        from django.contrib.auth.models import Group

        w._handoff_receiver.groups.add(Group.objects.get(name=roles.SE))
    return w._handoff_receiver


def _ticket_handoff(w, giver) -> Handoff:
    a, b = _regions(w)
    t = w.ticket(w.org_a, w.contact_a)
    t.severity, t.status, t.assignee = 1, "open", giver
    t.save(update_fields=["severity", "status", "assignee"])
    return Handoff.objects.create(
        ticket=t, from_user=giver, from_region=a, to_region=b, shift_end_at=now()
    )


def b_list(w, col, foreign):
    return "get", "/api/v1/handoffs?mine=give", None


def b_start(w, col, foreign):
    a, _b = _regions(w)
    user = _in_region(w.users[col], a) if col != "Cust" else w.users["SE"]
    t = w.ticket(w.org_a, w.contact_a)
    t.status, t.assignee = "open", user
    t.save(update_fields=["status", "assignee"])
    return "post", "/api/v1/handoffs", {"ticket_id": t.pk}


def b_get(w, col, foreign):
    return "get", f"/api/v1/handoffs/{_ticket_handoff(w, w.users['SE']).pk}", None


def b_hand(w, col, foreign):
    h = _ticket_handoff(w, w.users[col])
    body = {"receiver_id": _receiver(w).pk, "note": "State: waiting for the customer's logs."}
    return "post", f"/api/v1/handoffs/{h.pk}/hand", body


def b_acknowledge(w, col, foreign):
    a, b = _regions(w)
    t = w.ticket(w.org_a, w.contact_a)
    esc = services.open_escalation(None, ticket_ids=[t.pk], owner_id=w.users["EM"].pk)
    h = Handoff.objects.create(
        escalation=esc,
        from_user=w.users["EM"],
        from_region=a,
        to_region=b,
        shift_end_at=now(),
        status=Handoff.Status.HANDED,
        receiver=w.users[col],
        note="Call the CIO at 9",
        handed_at=now(),
        hand_count=1,
    )
    return "post", f"/api/v1/handoffs/{h.pk}/acknowledge", None


BUILDERS = {
    "GET /handoffs": b_list,
    "POST /handoffs": b_start,
    "GET /handoffs/{id}": b_get,
    "POST /handoffs/{id}/hand": b_hand,
    "POST /handoffs/{id}/acknowledge": b_acknowledge,
}
