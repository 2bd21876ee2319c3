"""Django admin of the accounts app.

Every configuration object is saved through its services -- regions, users (staff and
portal), teams, product areas (SME rosters through ``set_roster``), organizations and
contacts with their inline domains, owners and emails -- so an admin edit is validated
like an API call, obeys the same rules (only admins change admins) and appears on the
audit timeline.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import PermissionDenied

from caseline.errors import DomainError

from . import services
from .models import (
    ApiToken,
    Contact,
    ContactEmail,
    Organization,
    OrganizationDomain,
    OrganizationOwner,
    ProductArea,
    Region,
    SMERosterEntry,
    Team,
    User,
)
from .roles import ROLES
from .tokens import revoke_token


def _report(form: forms.Form, exc: DomainError) -> None:
    """Show a service refusal on the form, field by field where possible."""
    if not exc.fields:
        form.add_error(None, exc.message)
    for field, message in exc.fields.items():
        form.add_error(field if field in form.fields else None, f"{message}")


def _changed(form: forms.ModelForm, data: dict[str, Any], fields) -> dict[str, Any]:
    """The fields to validate: all on creation, the changed ones on a change."""
    return {
        f: data[f]
        for f in fields
        if f in data and (form.instance.pk is None or f in form.changed_data)
    }


def _live_rows(formset) -> list[dict[str, Any]]:
    return [
        f.cleaned_data
        for f in formset.forms
        if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
    ]


def _mark_saved_by_service(formset) -> None:
    # The admin's change message reads these after formset.save(), which we replace.
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


class ServiceSavedAdmin(admin.ModelAdmin):
    """Saves the object and its inlines in one service call (create or update)."""

    service_fields: tuple[str, ...] = ()

    def inline_data(self, formset) -> dict[str, Any]:
        return {}

    def service_create(self, actor: User, data: dict[str, Any]):
        raise NotImplementedError

    def service_update(self, pk: int, actor: User, data: dict[str, Any]):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        """Saved in save_related, once the inline formsets are known."""

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        data = {
            f: form.cleaned_data[f]
            for f in self.service_fields
            if f in form.cleaned_data and (not change or f in form.changed_data)
        }
        for formset in formsets:
            if not change or formset.has_changed():
                data.update(self.inline_data(formset))
            _mark_saved_by_service(formset)
        if change:
            saved = self.service_update(obj.pk, request.user, data)
        else:
            saved = self.service_create(request.user, data)
        obj.pk = saved.pk
        obj._state.adding = False
        obj._state.db = saved._state.db
        obj.refresh_from_db()


# --- regions ----------------------------------------------------------------------------


class RegionAdminForm(forms.ModelForm):
    class Meta:
        model = Region
        fields = services.REGION_FIELDS

    def clean(self):
        data = super().clean()
        subset = _changed(self, data, services.REGION_FIELDS)
        try:
            services.clean_region(subset, self.instance if self.instance.pk else None)
        except DomainError as exc:
            _report(self, exc)
        return data


@admin.register(Region)
class RegionAdmin(ServiceSavedAdmin):
    form = RegionAdminForm
    list_display = ("code", "name", "time_zone", "shift_calendar", "handoff_order")
    search_fields = ("code", "name")
    service_fields = services.REGION_FIELDS

    def service_create(self, actor, data):
        return services.create_region(actor=actor, **data)

    def service_update(self, pk, actor, data):
        return services.update_region(pk, actor=actor, **data)


# --- users ------------------------------------------------------------------------------
#
# Staff users are created and changed through create_staff / update_staff (validated,
# audited, and subject to the admin rules: only admins touch admins, only superusers touch
# superusers); customer (portal) users through update_customer_user. is_superuser, is_staff
# and per-user permissions are never editable here: roles (groups) are the permissions,
# and is_staff follows the admin role.

_STAFF_FORM_FIELDS = (
    "email",
    "display_name",
    "groups",
    "region",
    "time_zone",
    "is_away",
    "open_ticket_cap",
    "skills",
    "is_active",
)
_CUSTOMER_FORM_FIELDS = ("display_name", "is_active")
_ADD_FORM_FIELDS = ("email", "display_name", "groups", "region", "time_zone")


def _staff_values(form: forms.ModelForm, names) -> dict[str, Any]:
    """Form values under the services' names (groups -> roles)."""
    out: dict[str, Any] = {}
    for name in names:
        if name not in form.cleaned_data:
            continue
        value = form.cleaned_data[name]
        if name == "groups":
            out["roles"] = sorted(g.name for g in value or [])
        elif name == "skills":
            out["skills"] = list(value or [])
        else:
            out[name] = value
    return out


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = _STAFF_FORM_FIELDS

    def clean(self):
        data = super().clean()
        instance = self.instance
        names = [f for f in self.changed_data if f in self.fields and f != "password"]
        subset = _staff_values(self, names)
        try:
            if instance.kind == User.Kind.STAFF:
                services.clean_staff(subset, instance)
        except DomainError as exc:
            _report(self, exc)
        return data


class StaffCreationForm(forms.ModelForm):
    password1 = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Empty: no password (the person signs in after a reset, or uses tokens).",
    )
    password2 = forms.CharField(
        label="Password confirmation",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = User
        fields = _ADD_FORM_FIELDS

    def clean(self):
        data = super().clean()
        if data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two password fields didn't match.")
            return data
        subset = _staff_values(self, _ADD_FORM_FIELDS)
        if data.get("password1"):
            subset["password"] = data["password1"]
        try:
            services.clean_staff(subset, None)
        except DomainError as exc:
            _report(self, exc)
        return data


class ServicePasswordForm(AdminPasswordChangeForm):
    """The admin's "change password" form, saved through the services (audited)."""

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.fields.pop("usable_password", None)
        self.fields["password1"].required = True
        self.fields["password2"].required = True

    def save(self, commit=True):
        actor = _admin_actor.get()
        try:
            services.set_password(self.user.pk, self.cleaned_data["password1"], actor=actor)
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        self.user.refresh_from_db()
        return self.user


_admin_actor: contextvars.ContextVar[User | None] = contextvars.ContextVar(
    "caseline_admin_actor", default=None
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = StaffCreationForm
    change_password_form = ServicePasswordForm
    list_display = (
        "email",
        "display_name",
        "kind",
        "region",
        "role_list",
        "is_away",
        "open_ticket_cap",
        "is_active",
    )
    list_filter = ("kind", "region", "groups", "is_away", "is_active", "is_staff")
    search_fields = ("email", "display_name", "username")
    ordering = ("email",)
    filter_horizontal = ("groups", "skills")
    readonly_fields = (
        "username",
        "kind",
        "contact",
        "is_staff",
        "is_superuser",
        "last_login",
        "date_joined",
    )
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("email", "display_name", "kind")}),
        (
            "Work",
            {"fields": ("region", "time_zone", "is_away", "open_ticket_cap", "skills")},
        ),
        (
            "Roles and access",
            {
                "fields": ("is_active", "groups", "is_staff", "is_superuser"),
                "description": "Roles are the groups: "
                + ", ".join(ROLES)
                + ". Only admins grant the admin role or change admins; is_staff follows "
                "the admin role, is_superuser is set with `caseline createadmin` only.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    customer_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("email", "display_name", "kind", "contact")}),
        ("Access", {"fields": ("is_active",)}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "display_name",
                    "groups",
                    "region",
                    "time_zone",
                    "password1",
                    "password2",
                ),
                "description": "Creates a staff user (customers sign in through the portal).",
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.kind == User.Kind.CUSTOMER:
            return self.customer_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(self.readonly_fields)
        if obj is not None and obj.kind == User.Kind.CUSTOMER:
            readonly += ("email",)
        return readonly if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None or obj.pk == request.user.pk:
            return True
        if obj.is_superuser and not request.user.is_superuser:
            return False
        return not (services.is_admin(obj) and not services.is_admin(request.user))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("region").prefetch_related("groups")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups":
            field.label = "Roles"
        return field

    @admin.display(description="roles")
    def role_list(self, obj: User) -> str:
        return ", ".join(sorted(g.name for g in obj.groups.all()))

    def user_change_password(self, request, id, form_url=""):
        token = _admin_actor.set(request.user)
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _admin_actor.reset(token)

    def save_model(self, request, obj, form, change):
        """Saved in save_related, through the services."""

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        if change:
            names = [f for f in form.changed_data if f in form.fields and f != "password"]
            if obj.kind == User.Kind.CUSTOMER:
                data = {f: form.cleaned_data[f] for f in names if f in _CUSTOMER_FORM_FIELDS}
                saved = services.update_customer_user(obj.pk, actor=request.user, **data)
            else:
                data = _staff_values(form, names)
                saved = services.update_staff(obj.pk, actor=request.user, **data)
        else:
            data = _staff_values(form, _ADD_FORM_FIELDS)
            data["password"] = form.cleaned_data.get("password1") or None
            saved = services.create_staff(actor=request.user, **data)
        obj.pk = saved.pk
        obj._state.adding = False
        obj._state.db = saved._state.db
        obj.refresh_from_db()


# --- teams and product areas ------------------------------------------------------------


class TeamAdminForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = services.TEAM_FIELDS

    def clean(self):
        data = super().clean()
        subset = _changed(self, data, services.TEAM_FIELDS)
        if "members" in subset:
            subset["members"] = list(subset["members"] or [])
        try:
            services.clean_team(subset, self.instance if self.instance.pk else None)
        except DomainError as exc:
            _report(self, exc)
        return data


@admin.register(Team)
class TeamAdmin(ServiceSavedAdmin):
    form = TeamAdminForm
    list_display = ("name", "region", "lead", "assignment_strategy", "email")
    list_filter = ("region", "assignment_strategy")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    list_select_related = ("region", "lead")
    service_fields = services.TEAM_FIELDS

    def service_create(self, actor, data):
        data["members"] = list(data.get("members") or [])
        return services.create_team(actor=actor, **data)

    def service_update(self, pk, actor, data):
        if "members" in data:
            data["members"] = list(data["members"] or [])
        return services.update_team(pk, actor=actor, **data)


class RosterEntryForm(forms.ModelForm):
    class Meta:
        model = SMERosterEntry
        fields = ("user", "position")

    def _get_validation_exclusions(self):
        # Positions are renumbered 1..n by set_roster, so a swap of two positions must
        # not be refused by the (area, position) constraint while the old rows exist.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("position")
        return exclusions


class RosterInline(admin.TabularInline):
    model = SMERosterEntry
    form = RosterEntryForm
    extra = 1
    ordering = ("position",)
    raw_id_fields = ("user",)


class ProductAreaAdminForm(forms.ModelForm):
    class Meta:
        model = ProductArea
        fields = services.PRODUCT_AREA_FIELDS

    def clean(self):
        data = super().clean()
        subset = _changed(self, data, services.PRODUCT_AREA_FIELDS)
        try:
            services.clean_product_area(subset, self.instance if self.instance.pk else None)
        except DomainError as exc:
            _report(self, exc)
        return data


@admin.register(ProductArea)
class ProductAreaAdmin(ServiceSavedAdmin):
    form = ProductAreaAdminForm
    list_display = ("name", "slug", "owning_team")
    search_fields = ("name", "slug", "keywords")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [RosterInline]
    list_select_related = ("owning_team",)
    service_fields = services.PRODUCT_AREA_FIELDS

    def inline_data(self, formset) -> dict[str, Any]:
        if formset.model is SMERosterEntry:
            rows = sorted(_live_rows(formset), key=lambda r: r.get("position") or 0)
            return {"roster": [r["user"].pk for r in rows if r.get("user")]}
        return {}

    def service_create(self, actor, data):
        roster = data.pop("roster", None)
        area = services.create_product_area(actor=actor, **data)
        if roster:
            services.set_roster(area, roster, actor=actor)
        return area

    def service_update(self, pk, actor, data):
        roster = data.pop("roster", None)
        area = services.update_product_area(pk, actor=actor, **data)
        if roster is not None:
            services.set_roster(area, roster, actor=actor)
        return area


# --- organizations ----------------------------------------------------------------------


class OrganizationAdminForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = (
            "name",
            "tier",
            "support_entitlement",
            "region",
            "lifecycle_stage",
            "sales_consultant",
            "success_manager",
            "include_sc",
            "notes",
        )

    def clean(self):
        data = super().clean()
        subset = _changed(self, data, services.ORGANIZATION_FIELDS)
        try:
            services.clean_organization(subset, self.instance if self.instance.pk else None)
        except DomainError as exc:
            _report(self, exc)
        return data


class DomainForm(forms.ModelForm):
    class Meta:
        model = OrganizationDomain
        fields = ("domain",)

    def clean_domain(self):
        try:
            return services.normalize_domain(self.cleaned_data["domain"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc))


class DomainInline(admin.TabularInline):
    model = OrganizationDomain
    form = DomainForm
    extra = 1


class OwnerInline(admin.TabularInline):
    model = OrganizationOwner
    extra = 0
    raw_id_fields = ("user",)
    verbose_name = "owning support engineer"
    verbose_name_plural = "owning support engineers (per product area)"


@admin.register(Organization)
class OrganizationAdmin(ServiceSavedAdmin):
    form = OrganizationAdminForm
    list_display = (
        "name",
        "tier",
        "region",
        "lifecycle_stage",
        "sales_consultant",
        "success_manager",
        "include_sc",
    )
    list_filter = ("tier", "region", "lifecycle_stage", "include_sc")
    search_fields = ("name", "domains__domain")
    list_select_related = ("region", "sales_consultant", "success_manager")
    readonly_fields = ("created_at", "updated_at")
    inlines = [DomainInline, OwnerInline]
    service_fields = tuple(
        f for f in services.ORGANIZATION_FIELDS if f not in ("domains", "owners")
    )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from .roles import CSM, SC

        role = {"sales_consultant": SC, "success_manager": CSM}.get(db_field.name)
        if role:
            kwargs["queryset"] = User.objects.filter(
                kind=User.Kind.STAFF, is_active=True, groups__name=role
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def inline_data(self, formset) -> dict[str, Any]:
        rows = _live_rows(formset)
        if formset.model is OrganizationDomain:
            return {"domains": [r["domain"] for r in rows if r.get("domain")]}
        if formset.model is OrganizationOwner:
            return {
                "owners": [
                    {"product_area_id": r["product_area"].pk, "user_id": r["user"].pk}
                    for r in rows
                    if r.get("product_area") and r.get("user")
                ]
            }
        return {}

    def service_create(self, actor, data):
        return services.create_organization(actor=actor, **data)

    def service_update(self, pk, actor, data):
        return services.update_organization(pk, actor=actor, **data)


# --- contacts ---------------------------------------------------------------------------


class ContactAdminForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("name", "organization", "phone", "title", "time_zone")

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.instance.merged_into_id:
            raise forms.ValidationError(
                f"this contact was merged into #{self.instance.merged_into_id}; "
                "change that contact instead"
            )
        subset = _changed(self, data, ("name", "organization", "phone", "title", "time_zone"))
        try:
            services.clean_contact(subset, self.instance if self.instance.pk else None)
        except DomainError as exc:
            _report(self, exc)
        return data


class ContactEmailForm(forms.ModelForm):
    class Meta:
        model = ContactEmail
        fields = ("email", "is_primary")

    def clean_email(self):
        try:
            return services.normalize_email(self.cleaned_data["email"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc))


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    form = ContactEmailForm
    extra = 1


@admin.register(Contact)
class ContactAdmin(ServiceSavedAdmin):
    form = ContactAdminForm
    list_display = ("name", "primary_email", "organization", "phone", "merged_into")
    list_filter = ("organization",)
    search_fields = ("name", "emails__email", "phone")
    list_select_related = ("organization",)
    readonly_fields = ("merged_into", "created_at", "updated_at")
    raw_id_fields = ("organization",)
    inlines = [ContactEmailInline]
    service_fields = ("name", "organization", "phone", "title", "time_zone")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("emails")

    def inline_data(self, formset) -> dict[str, Any]:
        if formset.model is not ContactEmail:
            return {}
        rows = [r for r in _live_rows(formset) if r.get("email")]
        rows.sort(key=lambda r: not r.get("is_primary"))  # stable: primary first
        return {"emails": [r["email"] for r in rows]}

    def service_create(self, actor, data):
        if data.get("organization") is None:
            data.pop("organization", None)  # place it by its email's domain
        return services.create_contact(actor=actor, **data)

    def service_update(self, pk, actor, data):
        return services.update_contact(pk, actor=actor, **data)


# --- API tokens -------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their users (API, `caseline token create`); the admin can
    only look and revoke. Only the digest is stored, never the secret."""

    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "user__email", "name")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "digest",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_token(token.prefix, actor=request.user, token_id=token.pk)
            count += 1
        self.message_user(request, f"revoked {count} token(s)", messages.SUCCESS)
