from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "caseline.web"
    label = "web"
    verbose_name = "Web app"

    def ready(self) -> None:
        from django.contrib import admin

        from .forms import AdminSignInForm

        # The admin login counts failures and locks out like the workspace sign-in.
        admin.site.login_form = AdminSignInForm
