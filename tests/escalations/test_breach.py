"""The SLA engine's ``open_escalation`` breach action (registered by escalations'
AppConfig.ready()): a policy rule opens an escalation on the breaching ticket, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.errors import ValidationFailed
from caseline.escalations.models import Escalation
from caseline.sla import actions, config, timers
from caseline.tickets import services as tickets

pytestmark = pytest.mark.django_db


def policy(**params):
    return config.create_policy(
        None,
        name="Sev-1 escalates",
        position=1,
        role="support_engineer",
        severities=[1],
        targets=[
            {
                "kind": "acknowledge",
                "seconds": 600,
                "business": False,
                "calendar": "24x7",
                "rules": [
                    {
                        "threshold": "after_breach",
                        "value": 0,
                        "action": "open_escalation",
                        "params": params,
                    }
                ],
            }
        ],
    )


def test_open_escalation_is_a_registered_action():
    assert "open_escalation" in actions.action_names()
    assert "open_escalation" not in actions.ACTION_NAMES  # not a built-in of the SLA engine


def test_rule_params_are_checked_when_the_policy_is_saved(world):
    with pytest.raises(ValidationFailed) as exc:
        policy(owner="me")
    assert "targets.0.rules.0.params.owner" in exc.value.fields
    for bad in ("urgent", 9, True):
        with pytest.raises(ValidationFailed) as exc:
            policy(severity=bad)
        assert "targets.0.rules.0.params.severity" in exc.value.fields


def test_an_action_name_cannot_be_taken_twice():
    with pytest.raises(ValueError):
        actions.register_action("open_escalation", lambda ticket, **kw: {})
    with pytest.raises(ValueError):
        actions.register_action("notify", lambda ticket, **kw: {})


def test_breach_opens_one_escalation_owned_by_a_regional_escalation_manager(world, frozen):
    policy(severity=2)  # the rule's severity, not the Sev-1 ticket's
    t = tickets.create_ticket(
        actor=world.agent,
        requester=world.contact,
        subject="Cluster down",
        severity=1,
        body_text="All nodes are down.",
        channel="web",
    )
    timesource.set_time(frozen + timedelta(seconds=599))
    timers.fire_all_due()
    assert not Escalation.objects.exists()
    timesource.set_time(frozen + timedelta(seconds=600))
    timers.fire_all_due()
    esc = Escalation.objects.get()
    assert (esc.source, esc.severity, esc.organization, esc.status) == (
        "sla_breach",
        2,
        world.org,
        "open",
    )
    assert list(esc.tickets.all()) == [t]
    # the organization is in EMEA: the EMEA escalation manager owns it
    assert esc.owner == world.em
    assert esc.steps.count() == 6
    fired = AuditEvent.objects.get(ticket_id=t.pk, type="sla.action_fired")
    assert fired.data["action"] == "open_escalation"
    assert (fired.data["outcome"], fired.data["escalation"]) == ("done", esc.pk)
    opened = AuditEvent.objects.get(type="escalation.opened", subject_id=esc.pk)
    assert opened.data["sla_target"] == "acknowledge" and opened.ticket_id == t.pk
    # a second run of the action (another cycle) does not open a second escalation
    actions.run(
        "open_escalation",
        ticket=t,
        target="acknowledge",
        params={"cycle": "other"},
        at=frozen,
        rule_id=None,
    )
    assert Escalation.objects.count() == 1
    again = AuditEvent.objects.filter(ticket_id=t.pk, type="sla.action_fired").last()
    assert (again.data["outcome"], again.data["escalation"]) == ("unchanged", esc.pk)
