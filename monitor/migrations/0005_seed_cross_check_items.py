"""Seed the 信息比对 negative list, and give every existing case a main risk (its lowest
risk code: the only defined choice for cases filed before the field existed).

The item list is written out here so this migration keeps meaning what it meant."""

from django.db import migrations

ITEMS = [
    ("public_payroll", "财政供养人员", "家庭成员是否为机关事业单位在编或财政供养人员"),
    ("vehicle", "机动车", "家庭成员名下是否有非生产经营用机动车（农用车、摩托车除外）"),
    ("commercial_housing", "商品房", "家庭成员是否在城镇购买商品房"),
    ("business_registration", "工商注册", "家庭成员是否注册企业或担任企业高管"),
]


def seed(apps, schema_editor):
    item = apps.get_model("monitor", "CrossCheckItem")
    for order, (code, name, description) in enumerate(ITEMS, start=1):
        item.objects.update_or_create(
            code=code, defaults={"name": name, "description": description, "sort_order": order}
        )
    case = apps.get_model("monitor", "Case")
    risk = apps.get_model("monitor", "CaseRisk")
    for case_id in case.objects.filter(main_risk="").values_list("pk", flat=True).iterator():
        first = risk.objects.filter(case_id=case_id).order_by("code").first()
        if first is not None:
            case.objects.filter(pk=case_id).update(main_risk=first.code)


class Migration(migrations.Migration):
    dependencies = [("monitor", "0004_case_life")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
