# A password an administrator sets for someone else must be changed at its owner's next
# sign-in (accounts/passwords.py). Existing accounts owe nothing.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_password_and_second_factor"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="password_change_required",
            field=models.BooleanField(
                default=False, editable=False, verbose_name="下次登录须修改密码"
            ),
        ),
    ]
