"""Benchmark of the registry import: synthetic households and members under a made-up
province (code 99), imported twice (insert, then update), timed, then removed.

    manage.py bench_registry --households 50000

Run it against a scratch database: it writes and then deletes its own rows only.
"""

import csv
import io
import random
import time
from datetime import date

from django.core.management.base import BaseCommand
from django.db import connection

from households.benchdata import synthetic_remove, synthetic_villages
from households.idnumber import check_character
from households.importing import registry_import
from households.models import RegistryImport

LABOURS = ["普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力"]
HEALTH = ["健康", "健康", "健康", "长期慢性病", "患有大病", "残疾"]


def _id_number(rng: random.Random, serial: int) -> str:
    birth = date(rng.randint(1940, 2020), rng.randint(1, 12), rng.randint(1, 28))
    # Serial spread over birth date and sequence keeps numbers unique across the run.
    first17 = f"990101{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


class Command(BaseCommand):
    help = "登记导入基准测试（合成数据，测完删除）"

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=20000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, households, seed, **options):
        rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        villages = synthetic_villages(max(1, households // 300))
        household_csv, member_csv, members = self._files(rng, households, villages)
        self.stdout.write(
            f"{connection.vendor}: {households} 户, {members} 人, {len(villages)} 个村"
        )
        try:
            for label in ("首次导入", "重复导入"):
                for kind, data in (("households", household_csv), ("members", member_csv)):
                    started = time.perf_counter()
                    record = registry_import(
                        data=data, filename=f"{kind}.csv", scope_prefix=None, kind=kind
                    )
                    seconds = time.perf_counter() - started
                    assert record.rows_rejected == 0, record.errors[:3]
                    self.stdout.write(
                        f"{label} {kind:<10} {record.rows_total:>8} 行 {seconds:7.2f} s "
                        f"{record.rows_total / seconds:9.0f} 行/秒 "
                        f"(新增 {record.rows_created}, 更新 {record.rows_updated})"
                    )
        finally:
            RegistryImport.objects.filter(
                file_name__in=["households.csv", "members.csv"], imported_by=None
            ).delete()
            synthetic_remove()

    def _files(self, rng, households, villages):
        out_h, out_m = io.StringIO(), io.StringIO()
        writer_h, writer_m = csv.writer(out_h), csv.writer(out_m)
        writer_h.writerow(["户编号", "村代码", "户类型", "住址"])
        writer_m.writerow(
            ["户编号", "姓名", "身份证号", "与户主关系", "健康状况", "劳动技能", "联系电话"]
        )
        serial = members = 0
        seen = set()
        for index in range(households):
            village = villages[index % len(villages)]
            number = f"{village}{index:05d}"
            writer_h.writerow([number, village, rng.choice(["脱贫户", "一般农户"]), "某社"])
            for position in range(rng.randint(1, 6)):
                serial += 1
                id_number = _id_number(rng, serial)
                if id_number in seen:
                    continue
                seen.add(id_number)
                members += 1
                writer_m.writerow(
                    [
                        number,
                        f"成员{serial}",
                        id_number,
                        "户主" if position == 0 else "子女",
                        rng.choice(HEALTH),
                        rng.choice(LABOURS),
                        f"139{serial % 10**8:08d}",
                    ]
                )
        return out_h.getvalue().encode(), out_m.getvalue().encode(), members
