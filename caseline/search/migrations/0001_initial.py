"""Full-text indexes on the tables of tickets and accounts (see caseline/search/ddl.py):
FTS5 tables and triggers on SQLite, generated tsvector columns and GIN indexes on
PostgreSQL. Vendor-aware; reversible."""

from django.db import migrations


def create(apps, schema_editor):
    from caseline.search import ddl

    for sql in ddl.forward(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def drop(apps, schema_editor):
    from caseline.search import ddl

    for sql in ddl.reverse(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_manage_sla_permission"),
        ("tickets", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
