from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "caseline.api"
    label = "api"
    verbose_name = "REST API"
