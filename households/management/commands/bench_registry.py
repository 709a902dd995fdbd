"""Benchmark of the registry import: synthetic households and members under a made-up
province (code 99), written once to CSV files on disk, imported twice through
`manage.py import_registry`'s own function (insert, then re-import of the same files), timed,
then removed.

    manage.py bench_registry --members 1000000            # ~286,000 households
    manage.py bench_registry --households 20000 --method orm
    manage.py bench_registry --members 1000000 --floor    # and PostgreSQL's own time

With --floor (PostgreSQL) the members just imported are also written once more by a bare
INSERT … SELECT … ON CONFLICT from a ready table, sorted as the import sorts them, and
committed: what PostgreSQL alone needs for those rows, with no reading, checking,
encryption or staging.

Run it against a scratch database: it writes and then deletes its own rows only.
"""

import csv
import logging
import random
import resource
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from households.benchdata import synthetic_remove, synthetic_villages
from households.idnumber import check_character
from households.importing import registry_import_file
from households.models import RegistryImport

LABOURS = ["普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力"]
HEALTH = ["健康", "健康", "健康", "长期慢性病", "患有大病", "残疾"]
FIRST_BIRTH, BIRTH_DAYS = date(1940, 1, 1), 29585  # up to 2020-12-31
MEMBERS_PER_HOUSEHOLD = 3.5


def _id_number(serial: int) -> str:
    """Unique per serial (up to 29 million): the birth day walks the days in a scattered
    order (7919 is prime to the number of days), the sequence takes the rest."""
    day, sequence = divmod(serial, 1000)
    birth = FIRST_BIRTH + timedelta(days=day * 7919 % BIRTH_DAYS)
    first17 = f"990101{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


class Command(BaseCommand):
    help = "登记导入基准测试（合成数据写成 CSV 文件，导入两次，测完删除）"

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=20000)
        parser.add_argument(
            "--members", type=int, help="成员人数（按每户约 3.5 人推算户数，优先于 --households）"
        )
        parser.add_argument("--method", choices=["auto", "bulk", "orm"], default="auto")
        parser.add_argument(
            "--changed", action="store_true", help="重复导入时每位成员的劳动技能都有变化"
        )
        parser.add_argument(
            "--floor", action="store_true", help="另测 PostgreSQL 直接写入同样成员行所需的时间"
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--keep-files", action="store_true")

    def handle(
        self, *args, households, members, method, changed, floor, seed, keep_files, **options
    ):
        if floor and connection.vendor != "postgresql":
            raise CommandError("--floor 只适用于 PostgreSQL")
        if members is not None:
            households = max(1, round(members / MEMBERS_PER_HOUSEHOLD))
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # An earlier run's deleted rows would otherwise still sit in the tables and their
            # indexes, and every run would start from a different state.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE households_member, households_household")
        # The set-based path logs the seconds of each of its steps.
        steps = logging.getLogger("households.bulk_import")
        handler = logging.StreamHandler(self.stdout)
        steps.addHandler(handler)
        steps.setLevel(logging.INFO)
        steps.propagate = False
        folder = Path(tempfile.mkdtemp(prefix="bench_registry_"))
        try:
            villages = synthetic_villages(max(1, households // 300))
            started = time.perf_counter()
            files, households, count = self._write(
                folder, seed, households, members, villages, changed
            )
            self.stdout.write(
                f"{connection.vendor}: {households} 户, {count} 人, {len(villages)} 个村；"
                f"生成文件 {time.perf_counter() - started:.1f} s "
                f"({sum(path.stat().st_size for path in files.values()) / 2**20:.0f} MB)"
            )
            rounds = [
                ("首次导入", "members"),
                ("重复导入", "members_changed" if changed else "members"),
            ]
            for label, member_file in rounds:
                for kind, name in (("households", "households"), ("members", member_file)):
                    started = time.perf_counter()
                    record = registry_import_file(path=files[name], kind=kind, method=method)
                    seconds = time.perf_counter() - started
                    if record.rows_rejected:
                        raise CommandError(f"{record.rows_rejected} 行未通过：{record.errors[:3]}")
                    self.stdout.write(
                        f"{label} {kind:<10} {record.rows_total:>9} 行 {seconds:8.2f} s "
                        f"{record.rows_total / seconds:9.0f} 行/秒 "
                        f"(新增 {record.rows_created}, 更新 {record.rows_updated})"
                    )
                if floor and label == "首次导入":
                    seconds = self._floor()
                    self.stdout.write(
                        f"下限 members（PostgreSQL 从现成的表写入同样的 {count} 行并提交）"
                        f" {seconds:.2f} s {count / seconds:9.0f} 行/秒"
                    )
            kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            self.stdout.write(
                f"峰值内存：主进程 {kilobytes / 1024:.0f} MB，工作进程 {worker / 1024:.0f} MB"
            )
        finally:
            steps.removeHandler(handler)
            steps.propagate = True
            RegistryImport.objects.filter(
                file_name__in=[
                    f"{name}.csv" for name in ("households", "members", "members_changed")
                ],
                imported_by=None,
            ).delete()
            synthetic_remove()
            if keep_files:
                self.stdout.write(f"文件保留在 {folder}")
            else:
                shutil.rmtree(folder, ignore_errors=True)

    def _floor(self) -> float:
        """Seconds PostgreSQL takes to write the synthetic members again from a ready table
        (they are moved aside, deleted, and written back in ID-hash order, then committed)."""
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_registry_floor")
            cursor.execute(
                "CREATE UNLOGGED TABLE bench_registry_floor AS SELECT * FROM households_member "
                "WHERE household_id IN (SELECT id FROM households_household WHERE number LIKE %s)",
                ["99%"],
            )
            cursor.execute(
                "DELETE FROM households_member WHERE id IN (SELECT id FROM bench_registry_floor)"
            )
            cursor.execute("VACUUM households_member")
            cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO households_member SELECT * FROM bench_registry_floor "
                "ORDER BY id_number_hash ON CONFLICT (id_number_hash) "
                "DO UPDATE SET name = EXCLUDED.name"
            )
        seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_registry_floor")
        return seconds

    def _write(self, folder, seed, households, members, villages, changed):
        rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        paths = {name: folder / f"{name}.csv" for name in ("households", "members")}
        if changed:
            paths["members_changed"] = folder / "members_changed.csv"
        handles = {
            name: path.open("w", newline="", encoding="utf-8") for name, path in paths.items()
        }
        writers = {name: csv.writer(handle) for name, handle in handles.items()}
        writers["households"].writerow(["户编号", "村代码", "户类型", "住址"])
        member_header = [
            "户编号",
            "姓名",
            "身份证号",
            "与户主关系",
            "健康状况",
            "劳动技能",
            "联系电话",
        ]
        for name in paths:
            if name != "households":
                writers[name].writerow(member_header)
        serial = index = 0
        try:
            # With --members, households are added until the file has exactly that many
            # members (the last one cut short); otherwise exactly --households of them.
            def more() -> bool:
                return serial < members if members is not None else index < households

            while more():
                village = villages[index % len(villages)]
                number = f"{village}{index:07d}"
                writers["households"].writerow(
                    [number, village, rng.choice(["脱贫户", "一般农户"]), f"{index % 9 + 1}社"]
                )
                size = rng.randint(1, 6)
                if members is not None:
                    size = min(size, members - serial)
                for position in range(size):
                    labour = rng.randrange(len(LABOURS))
                    # Heads and spouses have a phone; children mostly not.
                    phone = f"139{serial % 10**8:08d}" if position < 2 else ""
                    row = [
                        number,
                        f"成员{serial}",
                        _id_number(serial),
                        "户主" if position == 0 else "子女",
                        rng.choice(HEALTH),
                        LABOURS[labour],
                        phone,
                    ]
                    writers["members"].writerow(row)
                    if changed:
                        row[5] = LABOURS[(labour + 1) % len(LABOURS)]
                        writers["members_changed"].writerow(row)
                    serial += 1
                index += 1
        finally:
            for handle in handles.values():
                handle.close()
        return paths, index, serial
