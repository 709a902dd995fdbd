# The TOTP secrets of the second factor are stored sealed (accounts/device_secrets.py): the
# proxy model the application uses, and the devices enrolled before, sealed in place. Back
# to hex on the way down, for django-otp's own model.

from django.db import migrations


def _devices(apps, schema_editor):
    model = apps.get_model("otp_totp", "TOTPDevice")
    return model.objects.using(schema_editor.connection.alias)


def seal_existing(apps, schema_editor):
    from accounts.device_secrets import is_sealed, seal

    devices = _devices(apps, schema_editor)
    for pk, user_id, key in list(devices.values_list("pk", "user_id", "key")):
        if not is_sealed(key):
            devices.filter(pk=pk).update(key=seal(key, user_id))


def unseal_existing(apps, schema_editor):
    from accounts.device_secrets import is_sealed, unseal_to_hex

    devices = _devices(apps, schema_editor)
    for pk, user_id, key in list(devices.values_list("pk", "user_id", "key")):
        if is_sealed(key):
            devices.filter(pk=pk).update(key=unseal_to_hex(key, user_id))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_password_change_required"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="SecondFactorDevice",
            fields=[],
            options={
                "verbose_name": "动态口令设备",
                "verbose_name_plural": "动态口令设备",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("otp_totp.totpdevice",),
        ),
        migrations.RunPython(seal_existing, unseal_existing),
    ]
