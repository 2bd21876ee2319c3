"""URLs of the agent's ticket page (included by caseline/urls.py)."""

from django.urls import path

from . import ticket_views as v

urlpatterns = [
    path("t/<int:ticket_id>", v.ticket, name="ticket"),
    path("t/<int:ticket_id>/status", v.set_status, name="ticket_status"),
    path("t/<int:ticket_id>/assign", v.assign, name="ticket_assign"),
    path("t/<int:ticket_id>/fields", v.set_fields, name="ticket_fields"),
    path("t/<int:ticket_id>/tags", v.tags, name="ticket_tags"),
    path("t/<int:ticket_id>/followers", v.followers, name="ticket_followers"),
    path("t/<int:ticket_id>/reply", v.reply, name="ticket_reply"),
    path("t/<int:ticket_id>/reply-check", v.reply_check, name="ticket_reply_check"),
    path("t/<int:ticket_id>/macro", v.apply_macro, name="ticket_macro"),
    path("t/<int:ticket_id>/presence", v.heartbeat, name="ticket_presence"),
    path(
        "t/<int:ticket_id>/messages/<int:message_id>/quoted",
        v.quoted,
        name="ticket_quoted",
    ),
]
