# Owned by: multi-customer detection. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 incidents`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import caseline.timesource


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0003_broadcasts"),
        ("tickets", "0004_dashboard_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DetectionProposal",
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
                        choices=[
                            ("open", "Open"),
                            ("linked", "Linked to an incident"),
                            ("dismissed", "Dismissed"),
                        ],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("organizations_count", models.PositiveIntegerField(default=0)),
                ("top_score", models.FloatField(default=0.0)),
                ("threshold", models.FloatField(default=0.0)),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "incident",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="detection_proposals",
                        to="incidents.incident",
                    ),
                ),
                (
                    "ticket",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="detection_proposal",
                        to="tickets.ticket",
                    ),
                ),
            ],
            options={"ordering": ["-id"]},
        ),
        migrations.CreateModel(
            name="DetectionMatch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("score", models.FloatField()),
                ("direct", models.BooleanField(default=True)),
                (
                    "ticket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="detection_matches",
                        to="tickets.ticket",
                    ),
                ),
                (
                    "proposal",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="matches",
                        to="incidents.detectionproposal",
                    ),
                ),
            ],
            options={"ordering": ["-score", "id"]},
        ),
        migrations.AddIndex(
            model_name="detectionproposal",
            index=models.Index(fields=["status", "id"], name="inc_detect_status_idx"),
        ),
        migrations.AddConstraint(
            model_name="detectionmatch",
            constraint=models.UniqueConstraint(
                fields=("proposal", "ticket"), name="inc_detect_match_uniq"
            ),
        ),
    ]
