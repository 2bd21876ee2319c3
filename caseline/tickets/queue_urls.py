from django.urls import path

from . import views

urlpatterns = [
    path("queues/", views.queue, name="queue"),
    path("queues/custom/", views.custom_queue, name="queue_custom"),
    path("queues/bulk", views.queue_bulk, name="queue_bulk"),
    path("queues/saved/", views.saved_view_create, name="saved_view_create"),
    path("queues/v/<int:view_id>/", views.saved_queue, name="saved_queue"),
    path("queues/v/<int:view_id>/edit", views.saved_view_update, name="saved_view_update"),
    path("queues/v/<int:view_id>/delete", views.saved_view_delete, name="saved_view_delete"),
    path("queues/<slug:key>/", views.queue, name="queue_view"),
]
