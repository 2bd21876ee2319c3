from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "caseline.web"
    label = "web"
    verbose_name = "Web app"

    def ready(self) -> None:
        from django.contrib import admin

        from . import extras
        from .forms import AdminSignInForm

        extras.register()  # the queues' "teams" filter and the pending-ETA row column

        # The admin login counts failures and locks out like the workspace sign-in.
        admin.site.login_form = AdminSignInForm
