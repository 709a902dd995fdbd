"""The keyed hash of a self-applicant's phone, so the applicant's lookup of the result
(受理编号 + 手机号) compares hashes. Applications already stored get theirs once here, from
their ciphertext; the lookup itself never decrypts."""

from django.db import migrations, models


def hash_stored_phones(apps, schema_editor):
    from households import pii

    SelfApplication = apps.get_model("monitor", "SelfApplication")
    pending = SelfApplication.objects.filter(phone_hash="").exclude(phone_encrypted="")
    for application in pending.only("pk", "phone_encrypted").iterator(chunk_size=500):
        try:
            phone = pii.decrypt(application.phone_encrypted, field="phone")
        except pii.PiiDecryptError:
            continue  # a key no longer configured: that application cannot be looked up
        SelfApplication.objects.filter(pk=application.pk).update(phone_hash=pii.phone_hash(phone))


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0005_seed_cross_check_items"),
    ]

    operations = [
        migrations.AddField(
            model_name="selfapplication",
            name="phone_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(hash_stored_phones, migrations.RunPython.noop),
    ]
