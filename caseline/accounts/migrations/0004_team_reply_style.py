# Reply style per team for the reply checker (docs/reply-checker.md).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_portal_magic_link'),
    ]

    operations = [
        migrations.AddField(
            model_name='team',
            name='reply_greeting_required',
            field=models.BooleanField(default=False, help_text='Public replies must start with a greeting.'),
        ),
        migrations.AddField(
            model_name='team',
            name='reply_closing_required',
            field=models.BooleanField(default=False, help_text='Public replies must end with a closing.'),
        ),
    ]
