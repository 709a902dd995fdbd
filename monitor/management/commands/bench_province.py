"""Benchmark of the reports on a generated province (PostgreSQL):

    manage.py generate_province                 # once: 1,000,000 households, 60,000 cases
    manage.py bench_province                    # figures, ledger export, registry import

Prints the time of the report facts' full build and of an incremental refresh; the province
summary as of several days (median of three runs each) and as the first request of a fresh
process; every county as of today (median and slowest); the whole province's case ledger
exported the way a worker does it, in a fresh process, with its time and peak memory; then,
unless `--import-members 0`, the registry import rate of `bench_registry` (first import and
re-import of that many members).
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from households.choices import RegionLevel
from households.models import Region
from monitor.models import Case
from monitor.reports.facts import case_facts_refresh
from monitor.reports.figures import region_figures

PROVINCE = "980000000000"


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Command(BaseCommand):
    help = "统计报表基准测试（在 generate_province 生成的省份上，PostgreSQL）"

    def add_arguments(self, parser):
        parser.add_argument("--province", default=PROVINCE)
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument(
            "--import-members",
            type=int,
            default=1_000_000,
            help="bench_registry 的成员数（0：不测导入）",
        )
        parser.add_argument("--export-child", help=None)  # internal: the export process
        parser.add_argument("--figures-child", help=None)  # internal: a fresh process's report

    def handle(self, *args, province, runs, import_members, export_child, figures_child, **options):
        if connection.vendor != "postgresql":
            raise CommandError("需要 PostgreSQL（DATABASE_URL）")
        if export_child:
            return self._export_child(province, export_child)
        if figures_child:
            return self._figures_child(province, figures_child)
        region = Region.objects.filter(code=province).first()
        if region is None:
            raise CommandError(f"没有区划 {province}：请先运行 manage.py generate_province")
        cases = Case.objects.inside(region.prefix).count()
        self.stdout.write(f"{region.name}：{cases} 个监测案例")

        seconds, rows = _timed(case_facts_refresh, full=True)
        self.stdout.write(f"统计事实全量重建：{rows} 行，{seconds:.1f} s")
        seconds, rows = _timed(case_facts_refresh)
        self.stdout.write(f"统计事实增量刷新（无变化）：{seconds * 1000:.0f} ms")

        today = timezone.localdate()
        for days_ago in (0, 90, 365, 700):
            day = today - timedelta(days=days_ago)
            times = [_timed(region_figures, region, day)[0] for _ in range(runs)]
            self.stdout.write(
                f"全省汇总 截至 {day}：中位数 {statistics.median(times) * 1000:.0f} ms"
                f"（{', '.join(f'{t * 1000:.0f}' for t in times)}）"
            )
        times = [
            self._child(province, "--figures-child", today.isoformat())["seconds"]
            for _ in range(runs)
        ]
        listed = ", ".join(f"{t * 1000:.0f}" for t in times)
        self.stdout.write(f"全省汇总 截至 {today}，新进程的第一次请求：{listed} ms")
        counties = list(Region.objects.inside(region.prefix).filter(level=RegionLevel.COUNTY))
        times = [_timed(region_figures, county, today)[0] for county in counties]
        self.stdout.write(
            f"各县汇总 截至 {today}（{len(counties)} 个县）：中位数 "
            f"{statistics.median(times) * 1000:.0f} ms，最慢 {max(times) * 1000:.0f} ms"
        )
        self._export(province, today)
        if import_members:
            self.stdout.write(f"登记导入（bench_registry --members {import_members}）：")
            call_command("bench_registry", members=import_members, stdout=self.stdout)

    def _export(self, province: str, day: date) -> None:
        """The ledger written by a fresh process, as a worker would: its wall time and peak
        resident memory (VmHWM) are the figures."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ledger.xlsx"
            result = self._child(province, "--export-child", f"{path}|{day.isoformat()}")
            self.stdout.write(
                f"全省监测对象台账导出：{result['rows']} 行，{result['seconds']:.1f} s，"
                f"文件 {path.stat().st_size / 1e6:.1f} MB，进程峰值内存 {result['peak_mb']:.0f} MB"
            )

    @staticmethod
    def _child(province: str, option: str, value: str) -> dict:
        """Run this command again in a fresh interpreter; its last line is its JSON result."""
        done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "bench_province", "--province", province, option, value],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def _figures_child(self, province: str, day: str) -> None:
        region = Region.objects.get(code=province)
        seconds, _ = _timed(region_figures, region, date.fromisoformat(day))
        self.stdout.write(json.dumps({"seconds": seconds}))

    def _export_child(self, province: str, spec: str) -> None:
        from monitor.reports.exports import export_ledger_file

        path, day = spec.split("|")
        region = Region.objects.get(code=province)
        seconds, rows = _timed(export_ledger_file, region.prefix, date.fromisoformat(day), path)
        self.stdout.write(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": _peak_rss_mb()}))
