from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import directory_views, search_views, views
from .forms import SignInForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("", include("caseline.tickets.queue_urls")),
    path("portal/", include("caseline.web.portal_urls")),
    # organization / contact pages and the search page (docs/workspace-directory.md)
    path("organizations/", directory_views.organizations, name="organizations"),
    path("organizations/<int:org_id>/", directory_views.organization, name="organization"),
    path("contacts/<int:contact_id>/", directory_views.contact, name="contact"),
    path("contacts/<int:contact_id>/merge", directory_views.contact_merge, name="contact_merge"),
    path("search/", search_views.search, name="search"),
    # sign-in / sign-out / password reset: Django's views, our templates
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html",
            authentication_form=SignInForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="web/password_reset_form.html",
            email_template_name="web/email/password_reset.txt",
            subject_template_name="web/email/password_reset_subject.txt",
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="web/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="web/password_reset_confirm.html"
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="web/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]
