# Owned by: broadcasts and the status page. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 incidents`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import caseline.timesource


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_core"),
        ("notify", "0002_outbox_lease"),
        ("tickets", "0004_dashboard_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="StatusComponent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("group", models.CharField(blank=True, default="", max_length=100)),
                ("description", models.CharField(blank=True, default="", max_length=300)),
                ("position", models.PositiveIntegerField(default=0)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("operational", "Operational"),
                            ("degraded", "Degraded performance"),
                            ("partial_outage", "Partial outage"),
                            ("major_outage", "Major outage"),
                        ],
                        default="operational",
                        max_length=16,
                    ),
                ),
                ("updated_at", models.DateTimeField(default=caseline.timesource.now)),
            ],
            options={
                "ordering": ["group", "position", "name"],
            },
        ),
        migrations.CreateModel(
            name="StatusSubscriber",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("email", models.CharField(max_length=254, unique=True)),
                ("token", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
                ("confirmation_sent_at", models.DateTimeField(blank=True, null=True)),
                ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                ("unsubscribed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["email"],
            },
        ),
        migrations.AddField(
            model_name="incident",
            name="next_update_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="incident",
            name="public",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="incident",
            name="public_title",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(
            model_name="incident",
            name="update_cycle",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="incident",
            name="update_every_seconds",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="Broadcast",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("body", models.TextField()),
                ("next_update_at", models.DateTimeField()),
                ("public", models.BooleanField(default=False)),
                ("channels", models.JSONField(default=list)),
                ("incident_status", models.CharField(default="", max_length=14)),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
                ("ticket_count", models.PositiveIntegerField(default=0)),
                (
                    "author",
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
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="broadcasts",
                        to="incidents.incident",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="BroadcastTicket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "broadcast",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tickets",
                        to="incidents.broadcast",
                    ),
                ),
                (
                    "message",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="tickets.message",
                    ),
                ),
                (
                    "ticket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tickets.ticket",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ChatWebhook",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("url", models.URLField(max_length=500)),
                ("active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(default=caseline.timesource.now)),
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
                    "webhook",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="notify.webhook",
                    ),
                ),
            ],
            options={
                "ordering": ["name", "id"],
            },
        ),
        migrations.CreateModel(
            name="IncidentComponent",
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
                            ("operational", "Operational"),
                            ("degraded", "Degraded performance"),
                            ("partial_outage", "Partial outage"),
                            ("major_outage", "Major outage"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "incident",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="impacts",
                        to="incidents.incident",
                    ),
                ),
                (
                    "component",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="impacts",
                        to="incidents.statuscomponent",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="broadcast",
            index=models.Index(fields=["created_at", "id"], name="inc_broadcast_feed_idx"),
        ),
        migrations.AddConstraint(
            model_name="broadcastticket",
            constraint=models.UniqueConstraint(
                fields=("broadcast", "ticket"), name="inc_bcast_ticket_uniq"
            ),
        ),
        migrations.AddConstraint(
            model_name="incidentcomponent",
            constraint=models.UniqueConstraint(
                fields=("incident", "component"), name="inc_component_uniq"
            ),
        ),
    ]
