"""The support dashboard's partial indexes, declared on their own models (web/0002 once
made them with plain SQL on these tables, where a SQLite table rebuild would have dropped
them unseen). IF NOT EXISTS: a database that ran the old web/0002 has them already."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sla', '0008_ticket_upcoming_deadline'),
        ('tickets', '0003_ticket_page_macro_presence'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name='clock', index=models.Index(condition=models.Q(('breached_at__isnull', False)), fields=['breached_at'], name='web_dash_clock_breached_idx'))],
            database_operations=[
                migrations.RunSQL(
                    "CREATE INDEX IF NOT EXISTS web_dash_clock_breached_idx ON sla_clock (breached_at) WHERE breached_at IS NOT NULL",
                    "DROP INDEX IF EXISTS web_dash_clock_breached_idx",
                )
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name='clock', index=models.Index(condition=models.Q(('fulfilled_at__isnull', False)), fields=['fulfilled_at'], name='web_dash_clock_fulfilled_idx'))],
            database_operations=[
                migrations.RunSQL(
                    "CREATE INDEX IF NOT EXISTS web_dash_clock_fulfilled_idx ON sla_clock (fulfilled_at) WHERE fulfilled_at IS NOT NULL",
                    "DROP INDEX IF EXISTS web_dash_clock_fulfilled_idx",
                )
            ],
        ),
    ]
