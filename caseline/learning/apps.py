from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "caseline.learning"
    label = "learning"
    verbose_name = "Post-mortems and trends"

    def ready(self) -> None:
        # Timer kinds (action-item reminders) and event subscriptions (an escalation or
        # incident resolved schedules its post-mortem review) register here.
        pass
