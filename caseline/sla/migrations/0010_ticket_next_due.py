"""Copy ``sla_ticket.next_deadline`` to the new ``tickets_ticket.next_due_at`` (the SLA
services keep both from now on; docs/sla.md)."""

from django.db import migrations

COPY = (
    "UPDATE tickets_ticket SET next_due_at = ("
    "SELECT s.next_deadline FROM sla_ticket s WHERE s.ticket_id = tickets_ticket.id) "
    "WHERE id IN (SELECT ticket_id FROM sla_ticket WHERE next_deadline IS NOT NULL)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0009_dashboard_indexes"),
        ("tickets", "0005_ticket_next_due"),
    ]

    operations = [migrations.RunSQL(COPY, migrations.RunSQL.noop)]
