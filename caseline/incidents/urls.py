"""Web pages of the incidents app (included from caseline/urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []

# Broadcasts and the public status page (broadcasts_views.py, statuspage_views.py).
from . import broadcasts_views, statuspage_views  # noqa: E402

urlpatterns += [
    path(
        "incidents/<int:incident_id>/broadcasts/panel/",
        broadcasts_views.incident_broadcasts_panel,
        name="incident_broadcasts_panel",
    ),
    path("incidents/feed/", broadcasts_views.executive_feed, name="incident_feed"),
    path("status/", statuspage_views.status_page, name="status_page"),
    path("status.json", statuspage_views.status_json, name="status_json"),
    path("status/subscribe/", statuspage_views.status_subscribe, name="status_subscribe"),
    path("status/confirm/<str:token>/", statuspage_views.status_confirm, name="status_confirm"),
    path(
        "status/unsubscribe/<str:token>/",
        statuspage_views.status_unsubscribe,
        name="status_unsubscribe",
    ),
]

# --- the incident core: list, room, its actions, the ticket panel, page ack links (views.py) ---
from . import views as core_views  # noqa: E402

urlpatterns += [
    path("incidents/", core_views.incident_list, name="incident_list"),
    path("incidents/<int:incident_id>/", core_views.room, name="incident_room"),
    path(
        "incidents/<int:incident_id>/do/<slug:action>",
        core_views.room_action,
        name="incident_action",
    ),
    path(
        "incidents/ticket/<int:ticket_id>/panel",
        core_views.ticket_panel,
        name="ticket_incident_panel",
    ),
    path(
        "incidents/ticket/<int:ticket_id>/declare",
        core_views.ticket_declare,
        name="ticket_declare_incident",
    ),
    path("incidents/pages/ack/<str:token>/", core_views.page_ack, name="incident_page_ack"),
]

# --- multi-customer detection: proposals page, the ticket page's panel (detection_views.py) ---
from . import detection_views  # noqa: E402

urlpatterns += [
    path("incidents/proposals/", detection_views.proposal_list, name="detection_proposals"),
    path(
        "incidents/proposals/<int:proposal_id>/link",
        detection_views.proposal_link,
        name="detection_proposal_link",
    ),
    path(
        "incidents/proposals/<int:proposal_id>/dismiss",
        detection_views.proposal_dismiss,
        name="detection_proposal_dismiss",
    ),
    path(
        "incidents/ticket/<int:ticket_id>/similar",
        detection_views.ticket_similar_panel,
        name="ticket_similar_panel",
    ),
    path(
        "incidents/ticket/<int:ticket_id>/similar/link",
        detection_views.ticket_similar_link,
        name="ticket_similar_link",
    ),
]
