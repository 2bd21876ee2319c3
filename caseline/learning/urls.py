"""Web pages of the learning app (included from caseline/urls.py)."""

from django.urls import path

from . import views

urlpatterns: list = [
    path("postmortems/", views.postmortem_list, name="postmortem_list"),
    path("postmortems/<int:pm_id>/", views.postmortem_detail, name="postmortem_detail"),
    path("postmortems/<int:pm_id>/sections", views.edit_sections, name="postmortem_sections"),
    path("postmortems/<int:pm_id>/status", views.change_status, name="postmortem_status"),
    path("postmortems/<int:pm_id>/timeline", views.add_timeline, name="postmortem_timeline"),
    path(
        "postmortems/<int:pm_id>/timeline/<int:item_id>",
        views.edit_timeline,
        name="postmortem_timeline_item",
    ),
    path("postmortems/<int:pm_id>/actions", views.add_action, name="postmortem_actions"),
    path(
        "postmortems/<int:pm_id>/actions/<int:item_id>",
        views.edit_action,
        name="postmortem_action",
    ),
    path("postmortems/<int:pm_id>/review", views.move_review, name="postmortem_review"),
    path("trends/", views.trends, name="trends"),
    path(
        "postmortems/escalation/<int:escalation_id>/panel",
        views.escalation_postmortem_panel,
        name="escalation_postmortem_panel",
    ),
    path(
        "postmortems/incident/<int:incident_id>/panel",
        views.incident_postmortem_panel,
        name="incident_postmortem_panel",
    ),
]
