"""Benchmark of the department feed, end to end, against its floor.

    manage.py bench_feeds --persons 1000000 --warnings 100000

On PostgreSQL with a Redis broker (DATABASE_URL, REDIS_URL), in a scratch database:
1. builds a registry of that many members (synthetic province 99, by COPY);
2. starts gunicorn and a Celery worker as separate processes, pushes a CSV list of that many
   rows (about 60% matching) through POST /api/feeds/batches/ and waits until the worker
   has committed the clues — the system time;
3. does the same match by hand: COPY of the already-hashed rows into a bare table and one
   INSERT … SELECT joining the members — the floor;
4. prints both, the ratio floor/system, and the worker's peak memory; removes its data.
"""

import csv
import io
import json
import os
import random
import socket
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Command(BaseCommand):
    help = "部门预警名单端到端基准测试（PostgreSQL + Redis + 独立 worker 进程），输出与底线的比值"

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=1_000_000)
        parser.add_argument("--warnings", type=int, default=100_000)
        parser.add_argument("--match-share", type=float, default=0.6)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--force", action="store_true", help="run even if the database holds real households"
        )

    def handle(self, *args, persons, warnings, match_share, seed, force, **options):
        if connection.vendor != "postgresql" or not settings.REDIS_URL:
            raise CommandError("需要 PostgreSQL（DATABASE_URL）和 Redis（REDIS_URL）")
        if not force and Household.objects.exclude(number__startswith=PREFIX).exists():
            raise CommandError("数据库中已有真实农户：请在空的测试库上运行（或加 --force）")
        rng = random.Random(seed)  # noqa: S311 - synthetic data
        try:
            started = time.perf_counter()
            registered = self._registry(persons)
            self.stdout.write(f"登记库：{persons} 人，{time.perf_counter() - started:.1f} s")
            data, hashed = self._warning_list(rng, registered, warnings, match_share)
            self.stdout.write(f"预警名单：{warnings} 行，{len(data) / 1e6:.1f} MB")
            system, batch, peak = self._system(data)
            floor = self._floor(hashed)
            matched = batch.rows_new_clue + batch.rows_merged + batch.rows_attached
            self.stdout.write(
                f"系统（HTTP → Redis → worker → 线索入库）：{system:.2f} s，"
                f"匹配 {matched} 行，新线索 {Clue.objects.count()} 条\n"
                f"底线（COPY + 一条 INSERT … SELECT）：{floor:.2f} s\n"
                f"比值 底线/系统：{floor / system:.2f}\n"
                f"worker 峰值内存：{peak:.0f} MB"
            )
        finally:
            self._clean()

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
            cursor.execute("ANALYZE households_member")
            cursor.execute("ANALYZE households_household")
        return numbers

    def _warning_list(self, rng, registered, count, share):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["姓名", "身份证号", "预警类型", "金额", "发生日期", "说明"])
        hashed = []
        for row in range(count):
            if rng.random() < share:
                number = registered[rng.randrange(len(registered))]
            else:
                number = _id_number("990199", row)  # a county with no registry
            indicator = INDICATORS[row % len(INDICATORS)]
            amount = f"{rng.randint(1000, 90000):,}.00元"
            writer.writerow([f"人员{row}", number, indicator, amount, "2026-10-01", ""])
            hashed.append((row + 2, pii.id_number_hash(number), indicator))
        return out.getvalue().encode("utf-8"), hashed

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
            peak = _peak_rss_mb(worker.pid)
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
    def _floor(self, hashed) -> float:
        """Bare tables (no indexes) but real ones: the commit pays for its WAL as the
        system's does."""
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_rows, bench_hits")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE bench_rows (row_number int, id_hash varchar(64), "
                "indicator varchar(100))"
            )
            cursor.execute(
                "CREATE TABLE bench_hits (household_id bigint, row_number int, "
                "indicator varchar(100))"
            )
            with cursor.cursor.copy("COPY bench_rows FROM STDIN") as copy:
                for row in hashed:
                    copy.write_row(row)
            cursor.execute(
                "INSERT INTO bench_hits SELECT m.household_id, r.row_number, "
                "r.indicator FROM bench_rows r JOIN households_member m "
                "ON m.id_number_hash = r.id_hash"
            )
        elapsed = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_rows, bench_hits")
        return elapsed

    def _clean(self) -> None:
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
        synthetic_remove()
