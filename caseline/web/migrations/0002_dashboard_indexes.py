"""Once made the support dashboard's indexes on other apps' tables with plain SQL; they
are now declared on their models (sla/0009, tickets/0004), where a SQLite table rebuild
keeps them. Kept empty so databases that ran it stay consistent."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0001_initial"),
        ("tickets", "0001_initial"),
        ("sla", "0008_ticket_upcoming_deadline"),
    ]

    operations = []
