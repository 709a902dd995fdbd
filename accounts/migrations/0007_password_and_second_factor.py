# 等保 level 3: passwords expire, so each user carries the time its password was last set.
# Existing accounts start their clock at this migration (the TOTP devices of the second
# factor are django_otp.plugins.otp_totp's own table and migration).

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_audit_chain"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="password_changed_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="密码修改时间"
            ),
        ),
    ]
