"""URLs of the customer portal, mounted at /portal/ (namespace ``portal``)."""

from django.urls import path

from . import portal_views as views

app_name = "portal"

urlpatterns = [
    path("", views.tickets, name="tickets"),
    path("new/", views.new_ticket, name="new"),
    path("t/<int:ticket_id>/", views.ticket, name="ticket"),
    path("t/<int:ticket_id>/reply", views.reply, name="reply"),
    path("t/<int:ticket_id>/solve", views.solve, name="solve"),
    path("t/<int:ticket_id>/rate", views.rate, name="rate"),
    path("attachments/<int:attachment_id>", views.attachment, name="attachment"),
    path("login/", views.sign_in, name="login"),
    path("login/link", views.request_link, name="request_link"),
    path("login/link/sent", views.link_sent, name="link_sent"),
    path("link/<str:secret>/", views.use_link, name="use_link"),
    path("logout/", views.sign_out, name="logout"),
    path("account/", views.account, name="account"),
]
