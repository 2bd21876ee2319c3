from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "caseline.audit"
    label = "audit"
    verbose_name = "Audit timeline"
