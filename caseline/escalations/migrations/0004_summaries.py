# Owned by: executive summaries. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 escalations`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
import datetime

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import caseline.timesource


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0003_calls"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="escalation",
            name="next_steps",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="escalation",
            name="risks",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.CreateModel(
            name="SummarySchedule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("active", models.BooleanField(default=True)),
                ("send_time", models.TimeField(default=datetime.time(17, 0))),
                ("time_zone", models.CharField(blank=True, default="", max_length=64)),
                ("lead_minutes", models.PositiveIntegerField(default=60)),
                ("occurrence", models.PositiveIntegerField(default=0)),
                ("next_send_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(default=caseline.timesource.now)),
                (
                    "escalation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="summary_schedule",
                        to="escalations.escalation",
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ExecutiveSummary",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("draft", "Draft"), ("sent", "Sent")],
                        default="draft",
                        max_length=8,
                    ),
                ),
                ("subject", models.CharField(max_length=300)),
                ("text", models.TextField()),
                ("html", models.TextField()),
                (
                    "since",
                    models.DateTimeField(
                        blank=True, help_text="Covers changes after this.", null=True
                    ),
                ),
                (
                    "last_event_id",
                    models.BigIntegerField(
                        blank=True,
                        help_text="The last audit event of the escalation it covers.",
                        null=True,
                    ),
                ),
                ("generated_at", models.DateTimeField(default=caseline.timesource.now)),
                ("edited_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("recipients", models.JSONField(blank=True, default=list)),
                (
                    "occurrence",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="The schedule occurrence that sent it (None: by hand).",
                        null=True,
                    ),
                ),
                (
                    "edited_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "escalation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="executive_summaries",
                        to="escalations.escalation",
                    ),
                ),
                (
                    "generated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "sent_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["escalation", "-id"],
                "indexes": [
                    models.Index(fields=["escalation", "status", "id"], name="esc_summary_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "draft")),
                        fields=("escalation",),
                        name="esc_summary_one_draft",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("occurrence__isnull", False), ("status", "sent")),
                        fields=("escalation", "occurrence"),
                        name="esc_summary_occurrence_once",
                    ),
                ],
            },
        ),
    ]
