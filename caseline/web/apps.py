from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "caseline.web"
    label = "web"
    verbose_name = "Web app"
