from django.contrib import admin
from django.urls import include, path

from caseline.api.urls import api

admin.site.site_header = "Caseline administration"
admin.site.site_title = "Caseline"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("caseline.web.ticket_urls")),  # the agent's ticket page /t/<id>
    path("", include("caseline.web.urls")),
    path("", include("caseline.escalations.urls")),
    path("", include("caseline.incidents.urls")),
    path("", include("caseline.learning.urls")),
]
