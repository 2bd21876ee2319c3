# Owned by: executive summaries. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 escalations`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("escalations", "0003_calls")]

    operations: list = []
