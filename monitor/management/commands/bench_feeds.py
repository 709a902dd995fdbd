"""Benchmark of the department feed, end to end, against its floor.

    manage.py bench_feeds --persons 1000000 --warnings 100000 --repeat 3

On PostgreSQL with a Redis broker (DATABASE_URL, REDIS_URL), in a scratch database:
1. builds a registry of that many members (synthetic province 99, by COPY);
2. starts gunicorn and a Celery worker as separate processes, pushes a CSV list of that many
   rows (about 60% matching) through POST /api/feeds/batches/ and waits until the worker
   has committed the clues — the system time;
3. does the same job in the simplest correct code, in this process, timed from the CSV bytes
   (`_floor`: csv module, check digit, keyed hash, COPY, one receipt row per list row and one
   clue per household into indexed tables) — the floor;
4. prints both, the ratio floor/system, and the peak memory of the worker and of its
   normalising helpers; repeats 2-3 on the same registry (`--repeat`, medians at the end);
   removes its data."""

import csv
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import ApiToken, User
from config.localrun import REPO, post_file, start_celery_worker
from households import pii
from households.benchdata import COUNTY, PREFIX, synthetic_remove, synthetic_villages
from households.idnumber import check_character, mask_id_number
from households.models import Household
from monitor.models import Clue, Department, DispatchRound, Notification, WarningBatch
from monitor.models.feeds import DepartmentKind

HOUSEHOLD_SIZE = 4
INDICATORS = ["高额医疗自付", "新纳入低保", "疑似辍学", "残疾认定", "受灾"]


def _id_number(region: str, serial: int) -> str:
    birth = date(1940, 1, 1) + timedelta(days=serial // 1000)
    first17 = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


# The floor's own tables: a receipt keyed like monitor_warningrow's (one row per batch and row
# number, the index its receipt is read by) and a clue table whose unique index keeps one
# clue per household, as the system's partial unique index does.
_FLOOR_TABLES = (
    "CREATE TABLE floor_clue (id bigserial PRIMARY KEY, household_id bigint NOT NULL, "
    "village_id varchar(12) NOT NULL, raised_on date NOT NULL, created_at timestamptz NOT NULL)",
    "CREATE UNIQUE INDEX floor_clue_household ON floor_clue (household_id)",
    "CREATE TABLE floor_receipt (batch_id integer NOT NULL, row_number integer NOT NULL, "
    "name varchar(50) NOT NULL, id_hash varchar(64) NOT NULL, id_masked varchar(18) NOT NULL, "
    "indicator varchar(100) NOT NULL, amount numeric(14, 2), occurred_on date, "
    "detail varchar(500) NOT NULL, outcome varchar(20) NOT NULL, reason varchar(300) NOT NULL, "
    "household_id bigint, PRIMARY KEY (batch_id, row_number))",
)
_FLOOR_DROP = "DROP TABLE IF EXISTS floor_receipt, floor_clue"
_FLOOR_HEADER = ("姓名", "身份证号", "预警类型", "金额", "发生日期", "说明")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _floor_check_digit_ok(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number, _WEIGHTS, strict=False))
    return "10X98765432"[total % 11] == number[17]


def _floor_rows(data: bytes):
    """The staged rows of the floor: a row whose ID number fails the check is kept, without
    a hash, to be receipted as invalid."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    header = next(reader)
    positions = [header.index(column) for column in _FLOOR_HEADER]
    for number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        name, id_number, indicator, amount, occurred_on, detail = (
            cells[position].strip() for position in positions
        )
        id_number = id_number.upper()
        amount = amount.replace(",", "").removesuffix("元")
        if _floor_check_digit_ok(id_number):
            hashed, masked, reason = pii.id_number_hash(id_number), mask_id_number(id_number), ""
        else:
            hashed, masked, reason = "", "", "身份证号校验位错误"
        yield (number, name, hashed, masked, indicator, amount, occurred_on, detail, reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    """The worker's normalising helpers (monitor/feeds/parallel.py) are its children."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


class Command(BaseCommand):
    help = "部门预警名单端到端基准测试（PostgreSQL + Redis + 独立 worker 进程），输出与底线的比值"

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=1_000_000)
        parser.add_argument("--warnings", type=int, default=100_000)
        parser.add_argument("--match-share", type=float, default=0.6)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--repeat", type=int, default=1, help="runs on the same registry; medians printed"
        )
        parser.add_argument(
            "--force", action="store_true", help="run even if the database holds real households"
        )

    def handle(self, *args, persons, warnings, match_share, seed, repeat, force, **options):
        if connection.vendor != "postgresql" or not settings.REDIS_URL:
            raise CommandError("需要 PostgreSQL（DATABASE_URL）和 Redis（REDIS_URL）")
        if not force and Household.objects.exclude(number__startswith=PREFIX).exists():
            raise CommandError("数据库中已有真实农户：请在空的测试库上运行（或加 --force）")
        rng = random.Random(seed)  # noqa: S311 - synthetic data
        results = []
        try:
            started = time.perf_counter()
            registered = self._registry(persons)
            self.stdout.write(f"登记库：{persons} 人，{time.perf_counter() - started:.1f} s")
            data = self._warning_list(rng, registered, warnings, match_share)
            del registered
            self.stdout.write(f"预警名单：{warnings} 行，{len(data) / 1e6:.1f} MB")
            for run in range(1, repeat + 1):
                system, batch, (peak, helpers) = self._system(data)
                clues = Clue.objects.filter(source_batch=batch).count()
                self._clean_run()
                floor = self._floor(data)
                results.append((system, floor, peak))
                matched = batch.rows_new_clue + batch.rows_merged + batch.rows_attached
                self.stdout.write(
                    f"第 {run} 次：系统（HTTP → Redis → worker → 线索入库）{system:.2f} s，"
                    f"匹配 {matched} 行，新线索 {clues} 条；"
                    f"底线（CSV → 校验 → 哈希 → COPY → 线索与回执入库）{floor:.2f} s；"
                    f"比值 底线/系统 {floor / system:.2f}；worker 峰值内存 {peak:.0f} MB"
                    + "".join(f"，辅助进程 {helper:.0f} MB" for helper in helpers)
                )
        finally:
            self._clean_run()
            synthetic_remove()
        system, floor, peak = (statistics.median(column) for column in zip(*results, strict=True))
        ratio = statistics.median(f / s for s, f, _ in results)
        self.stdout.write(
            f"中位数（{len(results)} 次）：系统 {system:.2f} s，底线 {floor:.2f} s，"
            f"比值 底线/系统 {ratio:.2f}，worker 峰值内存 {peak:.0f} MB"
        )

    # --- the registry -------------------------------------------------------------------
    def _registry(self, persons: int) -> list[str]:
        households = max(1, persons // HOUSEHOLD_SIZE)
        villages = synthetic_villages(max(1, households // 300))
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(
                "COPY households_household (number, village_id, kind, civil_affairs_status, "
                "address, is_monitored, closed_reason, created_at, updated_at) FROM STDIN"
            ) as copy:
                for index in range(households):
                    village = villages[index % len(villages)]
                    copy.write_row(
                        (f"{village}{index:07d}", village, "ordinary", "", "", False, "", now, now)
                    )
            cursor.execute(
                "SELECT id FROM households_household WHERE number LIKE %s ORDER BY id",
                [PREFIX + "%"],
            )
            ids = [row[0] for row in cursor.fetchall()]
            numbers = []
            with cursor.cursor.copy(
                "COPY households_member (household_id, name, id_number_encrypted, "
                "id_number_hash, id_number_masked, birth_date, sex, relation, health, labour, "
                "schooling, work_status, life_status, life_status_evidence, phone_encrypted, "
                "phone_hash, phone_masked, created_at, updated_at) FROM STDIN"
            ) as copy:
                for serial in range(persons):
                    number = _id_number(COUNTY[:6], serial)
                    numbers.append(number)
                    copy.write_row(
                        (
                            ids[serial // HOUSEHOLD_SIZE % len(ids)],
                            f"成员{serial}",
                            pii.encrypt(number, field="id_number"),
                            pii.id_number_hash(number),
                            mask_id_number(number),
                            date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
                            "M" if int(number[16]) % 2 else "F",
                            "head" if serial % HOUSEHOLD_SIZE == 0 else "child",
                            "healthy",
                            "ordinary",
                            "",
                            "",
                            "in_register",
                            "",
                            "",
                            "",
                            "",
                            now,
                            now,
                        )
                    )
        with connection.cursor() as cursor:
            # VACUUM too: the first reader of freshly copied rows would otherwise pay for
            # setting their hint bits, and that would be whichever run comes first.
            cursor.execute("VACUUM ANALYZE households_member")
            cursor.execute("VACUUM ANALYZE households_household")
        return numbers

    def _warning_list(self, rng, registered, count, share):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["姓名", "身份证号", "预警类型", "金额", "发生日期", "说明"])
        for row in range(count):
            if rng.random() < share:
                number = registered[rng.randrange(len(registered))]
            else:
                number = _id_number("990199", row)  # a county with no registry
            indicator = INDICATORS[row % len(INDICATORS)]
            amount = f"{rng.randint(1000, 90000):,}.00元"
            writer.writerow([f"人员{row}", number, indicator, amount, "2026-10-01", ""])
        return out.getvalue().encode("utf-8")

    # --- the system ---------------------------------------------------------------------
    def _system(self, data: bytes):
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": queue}
        port = _free_port()
        account = User.objects.create_user(username=f"bench-{queue}", role=Role.DEPARTMENT)
        Department.objects.create(
            name="基准部门",
            kind=DepartmentKind.MEDICAL_INSURANCE,
            region_id=COUNTY,
            account=account,
        )
        _, token = ApiToken.issue(user=account, name="bench")
        server = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--timeout",
                "600",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker = start_celery_worker(queue, env)
        try:
            self._wait_http(port)
            time.sleep(3)  # the worker connects to the broker
            started = time.perf_counter()
            batch_id = self._push(port, token, data)
            while True:
                batch = WarningBatch.objects.get(pk=batch_id)
                if batch.status != "received":
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            if batch.status != "done":
                raise CommandError(f"批次处理失败：{batch.error}")
            peak = (_peak_rss_mb(worker.pid), [_peak_rss_mb(c) for c in _children(worker.pid)])
        finally:
            for process in (server, worker):
                process.terminate()
                process.wait(timeout=60)
        return elapsed, batch, peak

    def _wait_http(self, port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise CommandError("gunicorn 未能启动")

    def _push(self, port: int, token: str, data: bytes) -> int:
        _, body = post_file(
            f"http://127.0.0.1:{port}/api/feeds/batches/",
            token,
            {"batch_key": f"bench-{uuid.uuid4().hex}"},
            "warnings.csv",
            data,
        )
        return json.loads(body)["id"]

    # --- the floor ----------------------------------------------------------------------
    def _floor(self, data: bytes) -> float:
        """The same job in the simplest correct code, one process, timed from the CSV bytes:
        the csv module, the GB 11643 check digit (a bad row is receipted as invalid), the
        keyed hash, COPY into a staging table, one clue per household found and one receipt
        row per list row, both into indexed tables like the system's, in one transaction.
        The tables exist before the clock starts, as the system's do."""
        with connection.cursor() as cursor:
            cursor.execute(_FLOOR_DROP)
            for statement in _FLOOR_TABLES:
                cursor.execute(statement)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            # The system's batch transaction raises it too: the comparison is of the code.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute(
                "CREATE TEMP TABLE floor_stage (row_number int, name text, id_hash text, "
                "id_masked text, indicator text, amount text, occurred_on text, detail text, "
                "reason text) ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY floor_stage FROM STDIN") as copy:
                for row in _floor_rows(data):
                    copy.write_row(row)
            cursor.execute("ANALYZE floor_stage")
            # The members are joined once, by the receipt; its household links give the clues.
            cursor.execute(
                "INSERT INTO floor_receipt (batch_id, row_number, name, id_hash, id_masked, "
                "indicator, amount, occurred_on, detail, outcome, reason, household_id) "
                "SELECT 1, s.row_number, s.name, s.id_hash, s.id_masked, s.indicator, "
                "NULLIF(s.amount, '')::numeric(14, 2), NULLIF(s.occurred_on, '')::date, "
                "s.detail, CASE WHEN s.id_hash = '' THEN 'invalid' "
                "WHEN m.household_id IS NULL THEN 'not_found' ELSE 'clue' END, "
                "s.reason, m.household_id "
                "FROM floor_stage s "
                "LEFT JOIN households_member m ON s.id_hash <> '' AND m.id_number_hash = s.id_hash"
            )
            cursor.execute(
                "INSERT INTO floor_clue (household_id, village_id, raised_on, created_at) "
                "SELECT h.id, h.village_id, current_date, now() FROM households_household h "
                "WHERE h.id IN (SELECT household_id FROM floor_receipt WHERE batch_id = 1) "
                "ON CONFLICT (household_id) DO NOTHING"
            )
        elapsed = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute(_FLOOR_DROP)
        return elapsed

    def _clean_run(self) -> None:
        """What one run leaves behind: its clues, rounds, notifications, batch and account."""
        batches = WarningBatch.objects.filter(department__region_id=COUNTY)
        Clue.objects.filter(village__code__startswith=PREFIX).delete()
        # The rounds (下发批次) and the notifications the batch raised in the county.
        DispatchRound.objects.filter(batch__in=batches).delete()
        Notification.objects.filter(region__code__startswith=PREFIX).delete()
        batches.delete()
        for department in Department.objects.filter(region_id=COUNTY):
            account = department.account
            department.delete()
            account.delete()
