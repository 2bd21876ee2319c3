from django.db import migrations

STANDARD_STEPS = [
    "Map the customer contacts and their roles",
    "Name the internal participants and agree their involvement",
    "Agree resources with engineering leadership",
    "Set the customer-update and internal-sync cadence",
    "Send the first customer update",
    "Record commitments with owners and dates",
]


def seed(apps, schema_editor):
    EscalationType = apps.get_model("escalations", "EscalationType")
    EscalationType.objects.get_or_create(
        name="Standard",
        defaults={
            "description": "The default procedure of a managed escalation.",
            "checklist": STANDARD_STEPS,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("escalations", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
