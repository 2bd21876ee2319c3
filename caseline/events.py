"""The in-process domain-event dispatcher and the one list of every event type.

Services append an audit event (``caseline.audit.services.record``), which publishes a
:class:`DomainEvent` here. Higher apps (sla, escalations, incidents, notify) subscribe in
their ``AppConfig.ready()``. Handlers run synchronously inside the publishing transaction,
so they must only do cheap writes to the same database; anything slow or anything that
leaves the process goes through the outbox or a timer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Every event type in the product, with what it means. Webhooks may subscribe to any of
# these; publishing an unknown type is a programming error.
EVENT_TYPES: dict[str, str] = {
    # accounts
    "organization.created": "An organization (customer account) was created.",
    "organization.updated": "Fields of an organization changed.",
    "contact.created": "A customer contact was created.",
    "contact.updated": "Fields of a contact changed.",
    "contact.merged": "A contact was merged into another one.",
    "staff.created": "A staff user was created.",
    "staff.updated": "A staff user's fields or roles changed.",
    "team.created": "A team was created.",
    "team.updated": "A team or its membership changed.",
    "product_area.created": "A product area was created.",
    "product_area.updated": "A product area or its SME roster changed.",
    "region.created": "A follow-the-sun region was created.",
    "region.updated": "A region's name, time zone, shift calendar or hand-off order changed.",
    "user.updated": "A customer (portal) user's name, access or password changed.",
    # customer portal (caseline.accounts.portal)
    "portal.user_created": "A portal login was created for a customer contact.",
    "portal.link_sent": "A one-time sign-in link was emailed to a customer contact.",
    "portal.signed_in": "A customer signed in to the portal (sign-in link or password).",
    # tickets
    "ticket.created": "A ticket was created (any channel).",
    "ticket.updated": "One or more fields of a ticket changed.",
    "ticket.status_changed": "A ticket moved to another status.",
    "ticket.assigned": "A ticket's assignee or team changed.",
    "ticket.solved": "A ticket was solved.",
    "ticket.message_added": "A public reply or internal note was added to a ticket.",
    "ticket.follower_added": "A staff follower or customer CC was added.",
    "ticket.follower_removed": "A staff follower or customer CC was removed.",
    "ticket.tags_changed": "A ticket's tags changed.",
    "ticket.custom_field_changed": "A custom field value of a ticket changed.",
    "ticket.linked": "A link between two tickets was created.",
    "ticket.merged": "A ticket was merged into another ticket.",
    "ticket.triaged": "Triage rules set severity, product area or team.",
    "custom_field.changed": "A ticket custom field definition was created or changed.",
    # email channel (caseline.mail)
    "mailbox.changed": "A mailbox (IMAP or SMTP receiver) was created, changed or deleted.",
    "mail.quarantined": "An inbound email could not be processed and was quarantined.",
    "mail.bounced": "A bounce arrived; the failed addresses were flagged.",
    # configuration
    "triage_rule.changed": "A triage rule was created, changed or deleted.",
    "webhook.changed": "A webhook subscription was created, changed or deleted.",
    "outbox.retried": "An administrator made an outbox delivery (email, webhook) due again.",
    # timers (caseline.sla)
    "timer.note": "A note timer (kind audit.note) fired: the subject's timeline shows the moment.",
    "timer.retried": "An administrator re-armed a failed or cancelled timer.",
    # SLA clocks and configuration (caseline.sla)
    "sla.breached": "An SLA clock of a ticket passed its due time without being fulfilled.",
    "sla_calendar.changed": "A stored business calendar was created, changed or deleted.",
    "sla_policy.changed": "An SLA policy, its targets or escalation rules changed.",
    "sla.recomputed": "Open tickets' SLA clocks were recomputed after a policy or calendar edit.",
    # SLA escalation actions (caseline.sla.actions)
    "sla.action_fired": "An SLA escalation rule's action ran on a ticket (notify, raise priority, "
    "reassign to the next region, hand to the SME).",
    # on-duty rotas (caseline.oncall)
    "oncall.schedule_changed": "An on-call schedule or one of its layers was created, changed or "
    "deleted.",
    "oncall.override_changed": "An on-call override was added or removed.",
    # ETA commitments (caseline.eta)
    "eta.promised": "A public reply promised the next step by a time (an ETA).",
    "eta.superseded": "A newer ETA replaced a pending one.",
    "eta.met": "A pending ETA was met (a later public staff reply, or the ticket was solved).",
    "eta.reminded": "The owner of a pending ETA was reminded before it falls due.",
    "eta.missed": "An ETA passed without an update: recorded as missed.",
    # managed escalations (caseline.escalations, docs/escalations.md)
    "escalation.requested": "A staff member requested an escalation (intake form).",
    "escalation.request_accepted": "An escalation manager accepted a request (escalation opened).",
    "escalation.request_declined": "An escalation manager declined a request, with a reason.",
    "escalation.opened": "An escalation was opened (from tickets, directly, a request or an "
    "SLA breach action).",
    "escalation.updated": "Fields of an escalation (title, severity, impact, owner) changed.",
    "escalation.status_changed": "An escalation moved to another status.",
    "escalation.tickets_linked": "Tickets were linked to an escalation.",
    "escalation.step_changed": "A checklist step of an escalation was ticked or unticked.",
    "escalation.stakeholder_added": "A customer contact or internal participant assumed a role.",
    "escalation.stakeholder_renounced": "A stakeholder renounced a role in an escalation.",
    "escalation.cadence_set": "The customer-update or internal-sync cadence was set or stopped.",
    "escalation.update_recorded": "A customer update or internal sync was recorded (cadence "
    "reset).",
    "escalation.update_reminded": "The owner was reminded that an update falls due.",
    "escalation.update_missed": "A cadence update fell due without being recorded.",
    "escalation.commitment_added": "A commitment (what, to whom, owner, due) was recorded.",
    "escalation.commitment_changed": "A commitment's status or text changed.",
    "escalation.commitment_slipped": "A commitment's due date moved (reason kept, notice drafted).",
    "escalation.commitment_overdue": "A commitment passed its due date while open.",
    "escalation_type.changed": "An escalation type (procedure checklist) was created or changed.",
    # escalations: calls and visits (caseline/escalations/calls.py)
    "escalation.call_scheduled": "A customer call, internal call or onsite visit was scheduled "
    "(invitation with .ics sent to the attendees).",
    "escalation.call_changed": "A call's time, place, agenda, attendees or notes changed "
    "(a reschedule sends the updated invitation).",
    "escalation.call_held": "A call or visit took place (status held, notes kept).",
    "escalation.call_cancelled": "A call or visit was cancelled (cancellation sent).",
    "escalation.action_item_added": "An action item (what, owner, due) was recorded on a call.",
    "escalation.action_item_changed": "An action item's text, owner or due date changed, or it "
    "was unticked.",
    "escalation.action_item_done": "An action item was ticked done (who and when kept).",
    "escalation.action_item_overdue": "An open action item passed its due time (owner reminded).",
    # escalations: executive summaries (caseline/escalations/summaries.py)
    "escalation.summary_schedule_set": "An escalation's executive-summary schedule was set, "
    "changed or stopped.",
    "escalation.summary_notes_changed": "The next steps or risks text of an escalation changed.",
    "escalation.summary_generated": "An executive-summary draft was generated or refreshed "
    "(by hand or by the schedule).",
    "escalation.summary_edited": "Someone edited the executive-summary draft before sending.",
    "escalation.summary_sent": "An executive summary was sent to the internal stakeholders.",
    # escalations: follow-the-sun handoffs (caseline/escalations/handoffs.py)
    "handoff.shift_ended": "A region's shift ended: hand-offs were opened for its live escalations "
    "and open Sev-1 tickets.",
    "handoff.created": "A follow-the-sun hand-off was opened for an escalation or ticket (at a "
    "shift end or by hand).",
    "handoff.handed": "The giver wrote the hand-off note and named the receiver in the next region.",
    "handoff.acknowledged": "The receiver acknowledged a hand-off and became the holder.",
    "handoff.escalated": "A hand-off note or acknowledgement was late: the managers were told.",
    "handoff.cancelled": "A hand-off was cancelled (the item closed, or a later shift end "
    "superseded it).",
    # critical incidents (caseline.incidents)
    "incident.declared": "A critical incident was declared (from tickets or directly).",
    "incident.updated": "Fields of an incident changed.",
    "incident.status_changed": "An incident moved to another status.",
    "incident.tickets_linked": "Tickets were linked to an incident.",
    "incident.ticket_unlinked": "A ticket was unlinked from an incident.",
    "incident.role_assigned": "Someone took a role on an incident (manager, comms lead, SME...).",
    "incident.role_renounced": "Someone gave up a role on an incident.",
    "incident.owner_assigned": "The case owner role was handed to someone (pending their ack).",
    "incident.owner_acknowledged": "The new case owner acknowledged the handoff.",
    "incident.owner_breached": "A Sev-1 incident had no acknowledged case owner by its target.",
    "incident.task_changed": "An incident task was added, changed or done.",
    "incident.note_added": "A free-form note was added to an incident's timeline.",
    "incident.entry_pinned": "A timeline entry of an incident was pinned or unpinned.",
    "incident.paged": "Someone was paged for an incident (webhook gateway and email).",
    "incident.page_acknowledged": "A page was acknowledged; the paging chain stopped.",
    "incident.page_escalated": "A page was not acknowledged in time; the next level is paged.",
    "incident.paging_exhausted": "Nobody acknowledged and nobody is left to page.",
    "incident.paging_target_changed": "A paging gateway was added, changed or removed.",
    # incidents: broadcasts and status page (caseline/incidents/broadcasts.py)
    "incident.broadcast_sent": "A broadcast (one update to every linked ticket, the executive "
    "feed, chat and, when public, the status page) was sent; it states the next update time.",
    "incident.broadcast_cadence_set": "An incident's broadcast cadence (update interval) was set.",
    "incident.broadcast_reminded": "The incident manager was reminded that a broadcast falls due.",
    "incident.broadcast_missed": "A broadcast fell due without being sent (a missed update).",
    "incident.status_page_changed": "An incident's status-page fields (public, public title, "
    "affected components) changed.",
    "chat_webhook.changed": "A chat webhook (Slack-compatible) was created, changed or deleted.",
    "status_component.changed": "A status-page component was created, changed or deleted.",
    "status_subscriber.changed": "A status-page email subscription was requested, confirmed or "
    "cancelled.",
    # incidents: multi-customer detection (caseline/incidents/detection.py)
    "incident.detection_proposed": "Multi-customer detection found tickets of other "
    "organizations like a new ticket and proposed linking them to one incident.",
    "incident.detection_linked": "A detection proposal's tickets were linked to a new or "
    "existing incident in one action.",
    "incident.detection_dismissed": "A detection proposal was dismissed (not one incident).",
    # learning: post-mortems, action items, trends (caseline.learning)
    "postmortem.created": "A post-mortem was created (a resolved escalation or incident).",
    "postmortem.subject_linked": "A second subject (incident or escalation) joined a post-mortem.",
    "postmortem.updated": "Sections, category, authors or product area of a post-mortem changed.",
    "postmortem.status_changed": "A post-mortem moved (draft, in review, published).",
    "postmortem.timeline_changed": "A timeline entry of a post-mortem was added, edited or removed.",
    "postmortem.review_scheduled": "A post-mortem review meeting was scheduled (invitation sent).",
    "postmortem.review_moved": "A post-mortem review meeting moved or its attendees changed.",
    "postmortem.review_reminded": "The attendees were reminded of a post-mortem review meeting.",
    "postmortem.action_item_added": "An action item (what, owner, due) was added to a post-mortem.",
    "postmortem.action_item_changed": "An action item's status, owner, text or due date changed.",
    "postmortem.action_item_reminded": "An action item's owner was reminded before its due date.",
    "postmortem.action_item_overdue": "An open action item passed its due date.",
    "root_cause_category.changed": "A root-cause category was created or changed.",
    # agent workspace (caseline.web, caseline.tickets.savedviews)
    "auth.locked_out": "Repeated failed sign-ins locked a username from an address for a while.",
    "saved_view.changed": "A saved ticket view (queue) was created, changed or deleted.",
    # ticket page (caseline.tickets.macros)
    "macro.changed": "A macro (saved reply with actions) was created, changed or deleted.",
    "macro.applied": "An agent applied a macro to a ticket (its actions ran through the services).",
}


@dataclass(frozen=True)
class DomainEvent:
    type: str
    subject_type: str
    subject_id: int
    at: datetime
    actor_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    audit_id: int | None = None
    # The subject's row as the publisher holds it (saved, so equal to what the database
    # holds in this transaction), or None. In-process only (never serialised): a
    # subscriber may use it instead of reading the row again; it must not change it.
    subject: Any = field(default=None, compare=False, repr=False)


Handler = Callable[[DomainEvent], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)
_wildcard: list[Handler] = []


def subscribe(event_type: str, handler: Handler) -> None:
    """Register ``handler`` for ``event_type`` ("*" for every event). Idempotent."""
    if event_type != "*" and event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    target = _wildcard if event_type == "*" else _handlers[event_type]
    if handler not in target:
        target.append(handler)


def publish(event: DomainEvent) -> None:
    if event.type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event.type!r}")
    for handler in (*_handlers.get(event.type, ()), *_wildcard):
        handler(event)
