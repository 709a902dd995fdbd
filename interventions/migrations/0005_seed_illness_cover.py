"""健康帮扶 and 综合保障 count as cover for a 因病 case; 社会帮扶 (help from society) does not.
Administrators may change the flag afterwards; this only sets the starting point."""

from django.db import migrations

COVER = ("health", "social_security")


def seed(apps, schema_editor):
    apps.get_model("interventions", "MeasureCategory").objects.filter(code__in=COVER).update(
        covers_illness=True
    )


class Migration(migrations.Migration):
    dependencies = [("interventions", "0004_illness_cover_and_insurance")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
