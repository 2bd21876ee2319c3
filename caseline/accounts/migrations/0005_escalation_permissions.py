from django.db import migrations

NAMES = {
    "request_escalation": "Request an escalation (intake form) and see own requests",
    "manage_escalations": "Open, run and close escalations; accept or decline requests",
}

# Escalations (caseline.escalations, docs/escalations.md, docs/permissions.md).
GRANTS = {
    "request_escalation": (
        "support_engineer",
        "sales_consultant",
        "customer_success_manager",
        "lead",
        "support_manager",
        "escalation_manager",
        "incident_manager",
        "executive",
        "admin",
    ),
    "manage_escalations": ("escalation_manager", "support_manager", "admin"),
}


def grant(apps, schema_editor):
    """Create the permissions and give them to the roles that exist already (a fresh
    database gets its groups from accounts.rolesync after migrate, which adds them too)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    ct, _ = ContentType.objects.get_or_create(app_label="accounts", model="user")
    for codename, role_names in GRANTS.items():
        perm, _ = Permission.objects.get_or_create(
            content_type=ct, codename=codename, defaults={"name": NAMES[codename]}
        )
        for group in Group.objects.filter(name__in=role_names):
            group.permissions.add(perm)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_team_reply_style"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="user",
            options={
                "permissions": [
                    ("add_internal_note", "Add internal notes and read them"),
                    ("create_ticket", "Create tickets on behalf of customers"),
                    ("manage_contacts", "Create, change and merge contacts"),
                    ("manage_custom_fields", "Create and change custom field definitions"),
                    (
                        "manage_escalations",
                        "Open, run and close escalations; accept or decline requests",
                    ),
                    ("manage_organizations", "Create and change organizations"),
                    ("manage_sla", "Create and change SLA calendars and policies"),
                    ("manage_staff", "Create staff users, change roles"),
                    ("manage_teams", "Create and change teams and product areas"),
                    ("manage_triage", "Create and change triage rules"),
                    ("manage_webhooks", "Create and change webhooks"),
                    ("merge_ticket", "Merge and link tickets"),
                    ("reply_ticket", "Add public replies"),
                    (
                        "request_escalation",
                        "Request an escalation (intake form) and see own requests",
                    ),
                    ("update_ticket", "Change ticket fields, status, assignee"),
                    ("view_all_tickets", "See every ticket"),
                    ("view_directory", "See organizations, contacts, staff, teams, product areas"),
                ]
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
