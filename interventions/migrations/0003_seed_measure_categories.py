"""Seed the twelve aid-measure categories, so they exist after `migrate` on an empty database.

The list is copied here rather than imported so this migration keeps meaning what it meant
when written, whatever the catalogue module becomes.
"""

from django.db import migrations

SEED = [
    ("industry", "产业帮扶", True),
    ("employment", "就业帮扶", True),
    ("finance", "金融帮扶", True),
    ("public_job", "公益性岗位", True),
    ("housing", "住房安全保障", False),
    ("water", "饮水安全", False),
    ("health", "健康帮扶", False),
    ("compulsory_edu", "义务教育帮扶", False),
    ("education", "教育帮扶", False),
    ("social_security", "综合保障", False),
    ("social_aid", "社会帮扶", False),
    ("infrastructure", "基础设施建设", False),
]


def seed(apps, schema_editor):
    category = apps.get_model("interventions", "MeasureCategory")
    for order, (code, name, developmental) in enumerate(SEED, start=1):
        category.objects.update_or_create(
            code=code,
            defaults={"name": name, "developmental": developmental, "sort_order": order},
        )


def unseed(apps, schema_editor):
    apps.get_model("interventions", "MeasureCategory").objects.filter(
        code__in=[code for code, _, _ in SEED], records__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("interventions", "0002_initial")]

    operations = [migrations.RunPython(seed, unseed)]
