"""Indexes the support dashboard reads through (caseline/web/queries.py), on tables of
other apps: created here with plain SQL (same on SQLite and PostgreSQL) so those apps'
models stay as they are.

- sla_clock breached_at / fulfilled_at (partial, NOT NULL): the week's and the day's ended
  clocks without reading every clock (set once per clock: updates of due_at stay HOT)
- tickets_message created_at of staff public replies (partial): the week's first replies
On a large PostgreSQL database build them beforehand with CREATE INDEX CONCURRENTLY (same
names); the IF NOT EXISTS here then skips them.
"""

from django.db import migrations

INDEXES = [
    (
        "web_dash_clock_breached_idx",
        "sla_clock (breached_at)",
        " WHERE breached_at IS NOT NULL",
    ),
    (
        "web_dash_clock_fulfilled_idx",
        "sla_clock (fulfilled_at)",
        " WHERE fulfilled_at IS NOT NULL",
    ),
    (
        "web_dash_message_staff_idx",
        "tickets_message (created_at)",
        " WHERE kind = 'public' AND author_user_id IS NOT NULL",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0001_initial"),
        ("tickets", "0001_initial"),
        ("sla", "0008_ticket_upcoming_deadline"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {target}{where}",
            f"DROP INDEX IF EXISTS {name}",
        )
        for name, target, where in INDEXES
    ]
