# Owned by: multi-customer detection. Operations for this part's own models only (written by hand or copied
# from `caseline makemigrations --dry-run -v 3 incidents`); the chain of stubs keeps parallel
# work on one app free of conflicting leaf migrations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("incidents", "0003_broadcasts")]

    operations: list = []
