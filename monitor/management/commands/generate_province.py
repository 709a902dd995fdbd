"""Generate a synthetic province (98) at full scale, to benchmark reports and exports.

    manage.py generate_province                       # 1,000,000 households, two years
    manage.py generate_province --households 3000 --seed 7 --until 2026-11-30
    manage.py generate_province --remove              # removes province 98 again

PostgreSQL only (everything is written by COPY); refuses a database that already holds
province 98. See monitor/provincegen for what is generated and how.
"""

import os
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from monitor.choices import Status
from monitor.provincegen import (
    province_exists,
    province_generate,
    province_remove,
    province_totals,
)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--until 应为日期 YYYY-MM-DD，收到「{text}」") from None


class Command(BaseCommand):
    help = "生成全省规模的合成数据（演示省，区划代码 98 开头），用于报表和导出的基准测试"

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=1_000_000, help="农户数")
        parser.add_argument("--seed", type=int, default=2026, help="随机种子（结果可复现）")
        parser.add_argument(
            "--until", type=_day, default=None, help="历史截止日期 YYYY-MM-DD（默认今天）"
        )
        parser.add_argument(
            "--workers", type=int, default=min(2, os.cpu_count() or 1), help="加密工作进程数"
        )
        parser.add_argument("--remove", action="store_true", help="删除演示省（98）的全部数据")

    def handle(self, *args, households, seed, until, workers, remove, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "generate_province 只能在 PostgreSQL 上运行（按 COPY 批量写入）："
                "请设置 DATABASE_URL=postgres://…"
            )
        if remove:
            counts = province_remove()
            total = sum(counts.values())
            self.stdout.write(f"已删除演示省（98）数据：{total} 行，涉及 {len(counts)} 张表")
            return
        if households < 1:
            raise CommandError("--households 应为正整数")
        if workers < 1:
            raise CommandError("--workers 应为正整数")
        if province_exists():
            raise CommandError(
                "数据库中已有演示省（区划代码 98）的数据：请先运行 generate_province --remove"
            )
        until = until or timezone.localdate()
        if until > timezone.localdate():
            raise CommandError("--until 不能晚于今天")
        self.stdout.write(
            f"生成演示省：{households} 户，种子 {seed}，历史截止 {until:%Y-%m-%d}，"
            f"{workers} 个工作进程"
        )
        result = province_generate(
            households=households,
            seed=seed,
            until=until,
            workers=workers,
            out=self.stdout.write,
        )
        totals = province_totals()
        seconds = sum(result["seconds"].values())
        lines = [
            f"合计 {seconds:.1f} s：农户 {totals['households']}，家庭成员 {totals['members']}，"
            f"帮扶措施 {totals['measures']}，预警线索 {totals['clues']}",
            "监测对象按状态："
            + "，".join(
                f"{status.label} {totals['cases'].get(status.value, 0)}" for status in Status
            ),
            f"数据库大小：{totals['database_bytes'] / 2**30:.2f} GiB",
        ]
        for line in lines:
            self.stdout.write(line)
