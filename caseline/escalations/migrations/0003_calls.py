# Owned by: calls and visits, customer updates through the ticket thread. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 escalations`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import caseline.timesource


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0002_seed_standard_type"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="cadenceentry",
            name="delivery",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.CreateModel(
            name="Call",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("customer_call", "Customer call"),
                            ("internal_call", "Internal call"),
                            ("onsite_visit", "Onsite visit"),
                        ],
                        default="customer_call",
                        max_length=16,
                    ),
                ),
                ("title", models.CharField(max_length=300)),
                ("agenda", models.TextField(blank=True, default="")),
                (
                    "location",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Address, room or dial-in.",
                        max_length=500,
                    ),
                ),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("scheduled", "Scheduled"),
                            ("held", "Held"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="scheduled",
                        max_length=10,
                    ),
                ),
                ("notes", models.TextField(blank=True, default="")),
                ("uid", models.CharField(max_length=200, unique=True)),
                ("sequence", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
                ("updated_at", models.DateTimeField(default=caseline.timesource.now)),
                ("held_at", models.DateTimeField(blank=True, null=True)),
                ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                ("cancel_reason", models.TextField(blank=True, default="")),
                (
                    "created_by",
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
                        related_name="calls",
                        to="escalations.escalation",
                    ),
                ),
            ],
            options={
                "ordering": ["escalation", "starts_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="ActionItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("what", models.CharField(max_length=500)),
                ("due_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
                ("done_at", models.DateTimeField(blank=True, null=True)),
                ("overdue_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "done_by",
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
                        related_name="action_items",
                        to="escalations.escalation",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="escalation_action_items",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "call",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="action_items",
                        to="escalations.call",
                    ),
                ),
            ],
            options={
                "ordering": ["call", "due_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="CallAttendee",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("email", models.EmailField(max_length=254)),
                ("name", models.CharField(blank=True, default="", max_length=200)),
                (
                    "call",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attendees",
                        to="escalations.call",
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.contact",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["call", "id"],
            },
        ),
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["escalation", "starts_at"], name="esc_call_start_idx"),
        ),
        migrations.AddConstraint(
            model_name="callattendee",
            constraint=models.UniqueConstraint(
                fields=("call", "email"), name="esc_call_attendee_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="callattendee",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("contact__isnull", True), ("user__isnull", True), _connector="OR"
                ),
                name="esc_call_attendee_one_person",
            ),
        ),
    ]
