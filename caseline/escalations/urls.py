"""Web pages of the escalations app (included from caseline/urls.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
