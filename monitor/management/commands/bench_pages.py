"""Time the pages people open most, in-process, against the current database (the demo
after `make run`, or any county's data): each role's home page, the case list, the review
queue and the clue inbox. Server time only (no network, no browser), median and 90th
percentile over repeated requests, with the number of SQL queries of one request."""

import statistics
import time

from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.choices import Role
from accounts.models import User

PAGES = {
    Role.VILLAGE_CADRE: ["/", "/cases/", "/clues/", "/households/"],
    Role.TOWNSHIP_REVIEWER: ["/", "/review/", "/cases/", "/clues/"],
    Role.COUNTY_APPROVER: ["/", "/review/", "/cases/", "/batches/"],
}


class Command(BaseCommand):
    help = "测量各角色常用页面的服务器响应时间（中位数、P90）与查询次数。"

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=30)

    def handle(self, *args, **options):
        runs = options["runs"]
        self.stdout.write(f"{'user':<16}{'page':<14}{'median ms':>10}{'p90 ms':>9}{'queries':>9}")
        for role, paths in PAGES.items():
            for user in User.objects.filter(role=role, is_active=True).order_by("username"):
                client = Client(HTTP_HOST="127.0.0.1")
                client.force_login(user)
                for path in paths:
                    self._measure(client, user.username, path, runs)

    def _measure(self, client, username: str, path: str, runs: int) -> None:
        client.get(path)  # warm: templates compiled, connections open
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{username} {path}: HTTP {response.status_code}")
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        times.sort()
        p90 = times[max(int(len(times) * 0.9) - 1, 0)]
        self.stdout.write(
            f"{username:<16}{path:<14}{statistics.median(times):>10.1f}{p90:>9.1f}{len(queries):>9}"
        )
