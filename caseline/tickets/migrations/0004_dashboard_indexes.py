"""The support dashboard's partial index on staff public replies, declared on Message
(web/0002 once made it with plain SQL on this table, where a SQLite table rebuild would
have dropped it unseen). IF NOT EXISTS: a database that ran the old web/0002 has it."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_escalation_permissions'),
        ('tickets', '0003_ticket_page_macro_presence'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="message",
                    index=models.Index(
                        condition=models.Q(("author_user__isnull", False), ("kind", "public")),
                        fields=["created_at"],
                        name="web_dash_message_staff_idx",
                    ),
                )
            ],
            database_operations=[
                migrations.RunSQL(
                    "CREATE INDEX IF NOT EXISTS web_dash_message_staff_idx ON tickets_message "
                    "(created_at) WHERE kind = 'public' AND author_user_id IS NOT NULL",
                    "DROP INDEX IF EXISTS web_dash_message_staff_idx",
                )
            ],
        ),
    ]
