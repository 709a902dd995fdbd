import django.db.models.deletion
from django.db import migrations, models

# Each case takes its household's village (one set-based UPDATE, the same on PostgreSQL and
# SQLite), then the column becomes required.
COPY_VILLAGE = """
UPDATE monitor_case SET village_id = (
    SELECT village_id FROM households_household h WHERE h.id = monitor_case.household_id
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("households", "0003_life_status_and_closure"),
        ("monitor", "0008_reports"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="village",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="households.region",
                verbose_name="所在村",
            ),
        ),
        migrations.RunSQL(COPY_VILLAGE, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="case",
            name="village",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="households.region",
                verbose_name="所在村",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                fields=["village"], name="case_village_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ),
    ]
