# Owned by: follow-the-sun handoffs. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 escalations`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import caseline.timesource


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0004_summaries"),
        ("accounts", "0005_escalation_permissions"),
        ("tickets", "0003_ticket_page_macro_presence"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="escalation",
            name="acting_owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="acting_escalations",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.CreateModel(
            name="Handoff",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("note", models.TextField(blank=True, default="")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("handed", "Handed"),
                            ("acknowledged", "Acknowledged"),
                            ("escalated", "Escalated"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=12,
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[("shift_end", "Shift end"), ("manual", "Started by hand")],
                        default="shift_end",
                        max_length=10,
                    ),
                ),
                (
                    "shift_end_at",
                    models.DateTimeField(help_text="The shift end this handoff belongs to."),
                ),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
                ("note_due_at", models.DateTimeField(blank=True, null=True)),
                ("hand_count", models.PositiveSmallIntegerField(default=0)),
                ("handed_at", models.DateTimeField(blank=True, null=True)),
                ("ack_due_at", models.DateTimeField(blank=True, null=True)),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("escalated_at", models.DateTimeField(blank=True, null=True)),
                ("escalated_stage", models.CharField(blank=True, default="", max_length=10)),
                ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                ("cancel_reason", models.CharField(blank=True, default="", max_length=300)),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
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
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="handoffs",
                        to="escalations.escalation",
                    ),
                ),
                (
                    "from_region",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="handoffs_out",
                        to="accounts.region",
                    ),
                ),
                (
                    "from_user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "handed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "receiver",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="handoffs_to_acknowledge",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "suggested_receiver",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "ticket",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="handoffs",
                        to="tickets.ticket",
                    ),
                ),
                (
                    "to_region",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="handoffs_in",
                        to="accounts.region",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [
                    models.Index(fields=["status", "id"], name="esc_handoff_status_idx"),
                    models.Index(fields=["from_user", "status"], name="esc_handoff_from_idx"),
                    models.Index(fields=["receiver", "status"], name="esc_handoff_recv_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("escalation__isnull", True), ("ticket__isnull", False)),
                            models.Q(("escalation__isnull", False), ("ticket__isnull", True)),
                            _connector="OR",
                        ),
                        name="esc_handoff_one_item",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("escalation__isnull", False), ("source", "shift_end")),
                        fields=("escalation", "from_region", "shift_end_at"),
                        name="esc_handoff_esc_shift_once",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("source", "shift_end"), ("ticket__isnull", False)),
                        fields=("ticket", "from_region", "shift_end_at"),
                        name="esc_handoff_ticket_shift_once",
                    ),
                ],
            },
        ),
    ]
