"""The seeded after-hours acknowledgement pages the rota: the default support engineer
policy's acknowledge target gets a rule notifying the region's on-duty engineers at the
start of an after-hours cycle (``params.when = "after_hours"``)."""

from django.db import migrations
from django.utils import timezone

PARAMS = {"to": ["on_duty"], "when": "after_hours", "label": "after-hours acknowledgement"}


def forwards(apps, schema_editor):
    Target = apps.get_model("sla", "Target")
    Rule = apps.get_model("sla", "EscalationRule")
    Policy = apps.get_model("sla", "Policy")
    for target in Target.objects.filter(
        policy__name="Support engineer (default)",
        policy__role="support_engineer",
        kind="acknowledge",
        after_hours_calendar__isnull=False,
    ):
        if Rule.objects.filter(target=target, action="notify", params=PARAMS).exists():
            continue
        Rule.objects.create(
            target=target, order=0, threshold="percent", value=1, action="notify", params=PARAMS
        )
        Policy.objects.filter(pk=target.policy_id).update(updated_at=timezone.now())


def backwards(apps, schema_editor):
    Rule = apps.get_model("sla", "EscalationRule")
    Rule.objects.filter(action="notify", params=PARAMS).delete()


class Migration(migrations.Migration):
    dependencies = [("sla", "0006_clock_suspended")]
    operations = [migrations.RunPython(forwards, backwards)]
