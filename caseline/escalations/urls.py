"""Web pages of the escalations app (included from caseline/urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []

# --- the escalation list, room, intake and ticket panel (views.py) ---------------------------
from . import views  # noqa: E402

urlpatterns += [
    path("escalations/", views.escalation_list, name="escalation_list"),
    path("escalations/<int:escalation_id>/", views.room, name="escalation_room"),
    path("escalations/<int:escalation_id>/status", views.set_status, name="escalation_status"),
    path("escalations/<int:escalation_id>/edit", views.edit_escalation, name="escalation_edit"),
    path("escalations/<int:escalation_id>/tickets", views.link_tickets, name="escalation_link"),
    path(
        "escalations/<int:escalation_id>/steps/<int:step_id>",
        views.tick_step,
        name="escalation_step",
    ),
    path(
        "escalations/<int:escalation_id>/stakeholders",
        views.add_stakeholder,
        name="escalation_stakeholders",
    ),
    path(
        "escalations/<int:escalation_id>/stakeholders/<int:stakeholder_id>/renounce",
        views.renounce_stakeholder,
        name="escalation_renounce",
    ),
    path("escalations/<int:escalation_id>/cadence", views.set_cadence, name="escalation_cadence"),
    path("escalations/<int:escalation_id>/updates", views.record_update, name="escalation_update"),
    path(
        "escalations/<int:escalation_id>/commitments",
        views.add_commitment,
        name="escalation_commitments",
    ),
    path(
        "escalations/<int:escalation_id>/commitments/<int:commitment_id>",
        views.edit_commitment,
        name="escalation_commitment",
    ),
    path("escalations/request/", views.request_form, name="escalation_request"),
    path("escalations/requests/", views.request_queue, name="escalation_requests"),
    path(
        "escalations/requests/<int:request_id>/accept",
        views.accept_request,
        name="escalation_request_accept",
    ),
    path(
        "escalations/requests/<int:request_id>/decline",
        views.decline_request,
        name="escalation_request_decline",
    ),
    path(
        "escalations/ticket/<int:ticket_id>/panel",
        views.ticket_panel,
        name="ticket_escalation_panel",
    ),
    path(
        "escalations/ticket/<int:ticket_id>/escalate",
        views.escalate_ticket,
        name="ticket_escalate",
    ),
]

# --- executive summaries panel (summaries_views.py) --------------------------------------------
from . import summaries_views  # noqa: E402

urlpatterns += [
    path(
        "escalations/<int:escalation_id>/summaries/panel",
        summaries_views.panel,
        name="escalation_summaries_panel",
    ),
    path(
        "escalations/<int:escalation_id>/summaries/schedule",
        summaries_views.schedule,
        name="escalation_summaries_schedule",
    ),
    path(
        "escalations/<int:escalation_id>/summaries/notes",
        summaries_views.notes,
        name="escalation_summaries_notes",
    ),
    path(
        "escalations/<int:escalation_id>/summaries/generate",
        summaries_views.generate,
        name="escalation_summaries_generate",
    ),
    path(
        "escalations/<int:escalation_id>/summaries/send",
        summaries_views.send,
        name="escalation_summaries_send",
    ),
    path(
        "escalations/<int:escalation_id>/summaries/<int:summary_id>/edit",
        summaries_views.edit,
        name="escalation_summaries_edit",
    ),
    path(
        "escalations/<int:escalation_id>/summaries/<int:summary_id>/",
        summaries_views.view,
        name="escalation_summaries_view",
    ),
]

# --- follow-the-sun handoffs: page and panels (handoffs_views.py) -------------------------------
from .handoffs_views import urlpatterns as handoff_urls  # noqa: E402

urlpatterns += handoff_urls

# --- calls and visits: the escalation room's panel (calls_views.py) --------------------------
from . import calls_views  # noqa: E402

urlpatterns += [
    path(
        "escalations/<int:escalation_id>/calls/panel",
        calls_views.panel,
        name="escalation_calls_panel",
    ),
    path(
        "escalations/<int:escalation_id>/calls/schedule",
        calls_views.schedule,
        name="escalation_call_schedule",
    ),
    path(
        "escalations/calls/<int:call_id>/reschedule",
        calls_views.reschedule,
        name="escalation_call_reschedule",
    ),
    path("escalations/calls/<int:call_id>/notes", calls_views.notes, name="escalation_call_notes"),
    path(
        "escalations/calls/<int:call_id>/cancel", calls_views.cancel, name="escalation_call_cancel"
    ),
    path(
        "escalations/calls/<int:call_id>/action-items",
        calls_views.add_item,
        name="escalation_action_items",
    ),
    path(
        "escalations/action-items/<int:item_id>/tick",
        calls_views.tick_item,
        name="escalation_action_item_tick",
    ),
]
