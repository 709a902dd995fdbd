"""manage.py bench_load: concurrent clients against the whole system on this machine —
gunicorn as deployed (sync workers, no debug), PostgreSQL, Redis and a Celery worker —
for a few minutes; prints requests per second, p50/p95/p99 and errors per kind.

The clients are people at work and departments' machines, each on its own session or key:
village cadres open pages and search the registry, township reviewers and county approvers
read queues and take case steps (a township approval, then a county return, over a pool of
cases kept for the benchmark), departments push warning lists that the worker matches. Each
client waits a moment between requests (`--think`, 0 for back to back).

Bounded and local: the server listens on 127.0.0.1 only, the run stops at its deadline,
each request times out after 30 s, and the worker takes this run's queue alone. It writes:
run it on a database of its own loaded with `manage.py load_demo` (the steps, lists and
audit rows it makes stay)."""

import http.client
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from accounts.choices import Role
from accounts.models import ApiToken, User
from config.errors import DomainError
from config.sessions import mark_active
from households import pii
from households.idnumber import check_character
from households.models import Household, Member, Region
from monitor.choices import Category, Channel, Status
from monitor.models import Case, Department, WarningBatch
from monitor.services import case_create

REPO = Path(__file__).resolve().parents[3]
MARK = "压力测试"  # the description of the benchmark's own cases, to find them again
POOL_SIZE = 60
LIST_ROWS = 20
TIMEOUT = 30
# Clients per ten: cadres, township reviewers, county approvers, departments.
ROLE_MIX = (
    [Role.VILLAGE_CADRE] * 4
    + [Role.TOWNSHIP_REVIEWER] * 3
    + [Role.COUNTY_APPROVER] * 2
    + [Role.DEPARTMENT]
)
# What each kind of client does, by weight.
WORK = {
    Role.VILLAGE_CADRE: {"page": 55, "api": 45},
    Role.TOWNSHIP_REVIEWER: {"page": 40, "api": 30, "transition": 30},
    Role.COUNTY_APPROVER: {"page": 40, "api": 30, "transition": 30},
    Role.DEPARTMENT: {"push": 70, "api": 30},
}
EXPECTED = {"page": 200, "api": 200, "transition": 200, "push": 202}


@dataclass
class Client:
    role: str
    headers: dict
    pages: list
    reads: list
    rng: random.Random
    results: list = field(default_factory=list)
    warm_up_errors: list = field(default_factory=list)
    pushed: list = field(default_factory=list)
    # The client's kept connection (a browser's or an HTTP library's keep-alive), or None.
    connection: http.client.HTTPConnection | None = None


class CasePool:
    """The benchmark's cases, each lent to one client at a time: a reviewer approves a
    reported one, an approver returns an approved one, and the case goes round again."""

    def __init__(self, cases):
        self.lock = threading.Lock()
        self.waiting = {Status.REPORTED: [], Status.TOWNSHIP_APPROVED: []}
        for pk, status in cases:
            self.waiting[status].append(pk)

    def take(self, status):
        with self.lock:
            return self.waiting[status].pop(0) if self.waiting[status] else None

    def give(self, pk, status):
        with self.lock:
            self.waiting[status].append(pk)


class Command(BaseCommand):
    help = (
        "整体压力测试：本机 gunicorn + PostgreSQL + Redis + Celery worker，"
        "并发客户端混合页面与接口读取、案例审核步骤和部门名单推送，"
        "输出每秒请求数、P50/P95/P99 与各类错误。请在单独的数据库上运行（先 load_demo）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=5.0, help="时长（分钟），默认 5")
        parser.add_argument("--clients", type=int, default=50, help="并发客户端数，默认 50")
        parser.add_argument(
            "--think", type=float, default=1.0, help="每个客户端两次请求间的平均间隔（秒）"
        )
        parser.add_argument(
            "--gunicorn-workers",
            type=int,
            default=3,
            help="gunicorn worker 进程数（同 Dockerfile）",
        )
        parser.add_argument(
            "--gunicorn-threads",
            type=int,
            default=None,
            help="每个 worker 的线程数（大于 1 为 gthread worker；默认同步 worker，同 Dockerfile）",
        )
        parser.add_argument("--celery-concurrency", type=int, default=2)
        parser.add_argument(
            "--warmup", type=float, default=15.0, help="先运行的预热秒数（不计入结果）"
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        if connection.vendor != "postgresql" or not settings.REDIS_URL:
            raise CommandError("压力测试需要 PostgreSQL（DATABASE_URL）和 Redis（REDIS_URL）")
        if options["clients"] < 1 or options["minutes"] <= 0:
            raise CommandError("--clients 与 --minutes 须为正数")
        rng = random.Random(options["seed"])  # noqa: S311 - a workload, not a secret
        run = uuid.uuid4().hex[:8]
        world = _World.prepare(rng)
        clients = [
            world.client(ROLE_MIX[i % len(ROLE_MIX)], random.Random(rng.random()))  # noqa: S311
            for i in range(options["clients"])
        ]
        folder = Path(settings.VAR_DIR) / "bench-load" / run
        folder.mkdir(parents=True)
        queue = f"bench-load-{run}"
        env = {
            **os.environ,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            # As deployed, over plain HTTP on the loopback.
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_SSL_REDIRECT": "0",
        }
        port = _free_port()
        processes = [
            _start(
                [
                    *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
                    *("--bind", f"127.0.0.1:{port}", "--timeout", "60", "--backlog", "256"),
                    *("--workers", str(options["gunicorn_workers"])),
                    # More than one thread: gunicorn's threaded workers (kept connections).
                    *(
                        ("--threads", str(options["gunicorn_threads"]))
                        if options["gunicorn_threads"]
                        else ()
                    ),
                ],
                env,
                folder / "gunicorn.log",
            ),
            _start(
                [
                    *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue),
                    *("--concurrency", str(options["celery_concurrency"]), "-l", "warning"),
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                env,
                folder / "worker.log",
            ),
        ]
        try:
            _wait_http(port)
            threaded = (options["gunicorn_threads"] or 1) > 1
            workers = (
                f"gthread worker（每个 {options['gunicorn_threads']} 线程）"
                if threaded
                else "同步 worker"
            )
            self.stdout.write(
                f"{len(clients)} 个客户端（村 {_count(clients, Role.VILLAGE_CADRE)}、"
                f"乡镇 {_count(clients, Role.TOWNSHIP_REVIEWER)}、"
                f"县 {_count(clients, Role.COUNTY_APPROVER)}、"
                f"部门 {_count(clients, Role.DEPARTMENT)}），"
                f"{options['minutes']:g} 分钟（另预热 {options['warmup']:g} 秒不计），"
                f"间隔 {options['think']:g} 秒；"
                f"gunicorn {options['gunicorn_workers']} 个{workers}，"
                f"Celery {options['celery_concurrency']} 个进程；日志 {folder}"
            )
            # Warm-up first (processes importing, templates compiling), not measured.
            started = time.monotonic() + options["warmup"]
            deadline = started + options["minutes"] * 60
            threads = [
                threading.Thread(
                    target=_drive,
                    args=(client, port, started, deadline, options["think"], world, run),
                    daemon=True,
                )
                for client in clients
            ]
            for thread in threads:
                thread.start()
            time.sleep(max(started - time.monotonic(), 0))
            cpu_before = _cpu_seconds(processes)
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            cpu = [
                after - before
                for after, before in zip(_cpu_seconds(processes), cpu_before, strict=True)
            ]
            drained = _wait_drained(run, timeout=180)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
        self._report(clients, elapsed, run, drained)
        # Where the machine's time went: the cores are shared by the server, the worker, the
        # clients themselves and PostgreSQL (its share is not counted here).
        cores = os.cpu_count() or 1
        self.stdout.write(
            f"CPU（{cores} 核 × {elapsed:.0f} 秒）：gunicorn {cpu[0]:.0f} 秒，"
            f"Celery worker {cpu[1]:.0f} 秒，客户端（本进程）{cpu[2]:.0f} 秒"
        )

    def _report(self, clients, elapsed, run, drained):
        results = [result for client in clients for result in client.results]
        warm_up_errors = [error for client in clients for error in client.warm_up_errors]
        by_kind = defaultdict(list)
        errors, where = Counter(), defaultdict(Counter)
        for kind, _, seconds, _ in results:
            by_kind[kind].append(seconds)
        for kind, status, _, path in results + warm_up_errors:
            if status != EXPECTED[kind]:
                errors[(kind, status)] += 1
                where[(kind, status)][path] += 1
        self.stdout.write(
            f"{'kind':<12}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
        )
        for kind in [*EXPECTED, "all"]:
            times = [result[2] for result in results] if kind == "all" else by_kind.get(kind, [])
            if not times:
                continue
            wrong = sum(n for (k, _), n in errors.items() if kind in ("all", k))
            times.sort()
            self.stdout.write(
                f"{kind:<12}{len(times):>9}{len(times) / elapsed:>8.1f}"
                f"{_percentile(times, 0.50) * 1000:>9.0f}{_percentile(times, 0.95) * 1000:>9.0f}"
                f"{_percentile(times, 0.99) * 1000:>9.0f}{times[-1] * 1000:>9.0f}{wrong:>8}"
            )
        if errors:
            self.stdout.write("错误：")
            for (kind, status), n in errors.most_common():
                common = where[(kind, status)].most_common(3)
                paths = "，".join(f"{path} ×{k}" for path, k in common)
                self.stdout.write(f"  {kind} {status} ×{n}（{paths}）")
        else:
            self.stdout.write("错误：无")
        batches = WarningBatch.objects.filter(batch_key__startswith=f"bench-{run}-")
        statuses = Counter(batches.values_list("status", flat=True))
        self.stdout.write(
            f"部门名单：推送 {sum(statuses.values())} 份，匹配完成 {statuses.get('done', 0)}，"
            f"失败 {statuses.get('failed', 0)}，未处理 {statuses.get('received', 0)}"
            + (f"；压测结束后 {drained:.1f} 秒内全部处理完" if drained is not None else "")
        )


def _count(clients, role) -> int:
    return sum(1 for client in clients if client.role == role)


def _percentile(ordered: list, share: float) -> float:
    """The nearest-rank percentile of an ordered list."""
    index = max(math.ceil(share * len(ordered)) - 1, 0)
    return ordered[min(index, len(ordered) - 1)]


def _cpu_seconds(processes) -> list[float]:
    """CPU seconds used so far by each process with its live children, then by this one."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / tick
            kids = [
                int(child)
                for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except OSError:
            return 0.0
        return own + sum(used(child) for child in kids)

    mine = os.times()
    return [used(process.pid) for process in processes] + [mine.user + mine.system]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own server and worker, fixed arguments
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_http(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = _request(port, "GET", "/login/", {})
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise CommandError("gunicorn 未能启动")


def _request(
    port: int,
    method: str,
    path: str,
    headers: dict,
    body: bytes | None = None,
    client: Client | None = None,
):
    """One request. A client keeps its connection between requests, as a browser does: sync
    workers close it after each answer (a new one next time), threaded workers
    (--gunicorn-threads) keep it, sparing this process, which shares the cores with the
    server, a TCP set-up per request."""
    if client is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()
    for attempt in (1, 2):
        reused = client.connection is not None
        if client.connection is None:
            client.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn = client.connection
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            client.connection = None
            # A kept connection the server had closed while idle: the request never reached
            # it, so it is sent again on a new one (once). Anything else is an error.
            stale = isinstance(
                exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
            )
            if reused and stale and attempt == 1:
                continue
            raise
        if response.will_close:
            conn.close()
            client.connection = None
        return response.status, content
    raise AssertionError("unreachable")


def _wait_drained(run: str, timeout: float) -> float | None:
    """Seconds after the run until the worker had matched every list pushed in it."""
    started = time.monotonic()
    waiting = WarningBatch.objects.filter(batch_key__startswith=f"bench-{run}-", status="received")
    while waiting.exists():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.5)
    return time.monotonic() - started


def _drive(
    client: Client, port: int, measured: float, deadline: float, think: float, world, run: str
) -> None:
    kinds, weights = zip(*WORK[client.role].items(), strict=True)
    # Spread the first requests over the first second.
    time.sleep(client.rng.random() * min(think, 1.0))
    while time.monotonic() < deadline:
        kind = client.rng.choices(kinds, weights)[0]
        warm_up = time.monotonic() < measured
        started = time.perf_counter()
        try:
            status, kind, path = _one(client, kind, port, world, run)
        except (OSError, http.client.HTTPException) as exc:
            status, path = type(exc).__name__, kind
        seconds = time.perf_counter() - started
        # Warm-up answers are not timed, but an error is an error whenever it happens.
        if not warm_up:
            client.results.append((kind, status, seconds, path))
        elif status != EXPECTED[kind]:
            client.warm_up_errors.append((kind, status, seconds, path))
        if think:
            time.sleep(client.rng.uniform(0.5, 1.5) * think)
    if client.connection is not None:
        client.connection.close()


def _one(client: Client, kind: str, port: int, world, run: str):
    if kind == "transition":
        status = (
            Status.REPORTED if client.role == Role.TOWNSHIP_REVIEWER else Status.TOWNSHIP_APPROVED
        )
        case = world.pool.take(status)
        if case is None:
            kind = "api"  # every case is with another client: read instead
        else:
            action, comment, after = (
                ("township_approve", "同意", Status.TOWNSHIP_APPROVED)
                if status == Status.REPORTED
                else ("county_return", "退回补充材料（压力测试）", Status.REPORTED)
            )
            body = json.dumps({"action": action, "comment": comment}).encode()
            answer, _ = _request(
                port,
                "POST",
                f"/api/cases/{case}/transitions/",
                {**client.headers, "Content-Type": "application/json"},
                body,
                client,
            )
            world.pool.give(case, after if answer == 200 else status)
            return answer, kind, f"/api/cases/{case}/transitions/ {action}"
    if kind == "push":
        number = len(client.pushed)
        body = json.dumps(
            {
                "batch_key": f"bench-{run}-{id(client)}-{number}",
                "rows": world.list_rows(client.rng),
            },
            ensure_ascii=False,
        ).encode()
        answer, content = _request(
            port,
            "POST",
            "/api/feeds/batches/",
            {**client.headers, "Content-Type": "application/json"},
            body,
            client,
        )
        if answer == 202:
            client.pushed.append(json.loads(content)["id"])
        return answer, kind, "/api/feeds/batches/"
    if kind == "api" and client.role == Role.DEPARTMENT:
        path = f"/api/feeds/batches/{client.pushed[-1]}/" if client.pushed else client.reads[0]
    else:
        path = client.rng.choice(client.pages if kind == "page" else client.reads)
    answer, _ = _request(port, "GET", path, client.headers, client=client)
    return answer, kind, path


class _World:
    """What the clients work on, read from the database (the demo, or any county's data)."""

    def __init__(self):
        self.people = {}
        self.department_key = None
        self.known_ids = []
        self.pool = None
        self.households = []
        self.cases = []

    @classmethod
    def prepare(cls, rng: random.Random) -> "_World":
        world = cls()
        approver = _first(Role.COUNTY_APPROVER)
        county = approver.region_id
        county_prefix = Region.prefix_of_code(county)
        world.people = {
            Role.VILLAGE_CADRE: list(
                User.objects.filter(
                    role=Role.VILLAGE_CADRE, is_active=True, region__code__startswith=county_prefix
                ).order_by("username")
            ),
            Role.TOWNSHIP_REVIEWER: [_first(Role.TOWNSHIP_REVIEWER, county)],
            Role.COUNTY_APPROVER: [approver],
        }
        if not world.people[Role.VILLAGE_CADRE]:
            raise CommandError("数据库中没有该县的村干部账号：请先 load_demo")
        department = (
            Department.objects.filter(region_id=county, account__is_active=True)
            .select_related("account")
            .first()
        )
        if department is None:
            raise CommandError("数据库中没有该县的行业部门：请先 load_demo")
        world.department_key = ApiToken.issue(user=department.account, name=MARK)[1]
        reviewer = world.people[Role.TOWNSHIP_REVIEWER][0]
        world.pool = CasePool(_case_pool(reviewer, rng))
        world.households = list(
            Household.objects.filter(village__code__startswith=county_prefix)
            .order_by("pk")
            .values_list("pk", "village_id")
        )
        world.cases = list(
            Case.objects.filter(household__village__code__startswith=county_prefix)
            .order_by("-pk")
            .values_list("pk", flat=True)[:200]
        )
        members = Member.objects.filter(household__village__code__startswith=county_prefix)
        world.known_ids = [
            pii.decrypt(token, field="id_number")
            for token in members.order_by("pk").values_list("id_number_encrypted", flat=True)[:400]
        ]
        return world

    def client(self, role: str, rng: random.Random) -> Client:
        if role == Role.DEPARTMENT:
            return Client(
                role=role,
                headers={"Authorization": f"Token {self.department_key}"},
                pages=[],
                reads=["/api/feeds/batches/?page_size=10"],
                rng=rng,
            )
        user = rng.choice(self.people[role])
        secret = uuid.uuid4().hex
        headers = {
            "Cookie": f"sessionid={_session(user)}; csrftoken={secret}",
            "X-CSRFToken": secret,
        }
        own = [pk for pk, village in self.households if village.startswith(_prefix(user))]
        households = rng.sample(own, min(10, len(own)))
        cases = rng.sample(self.cases, min(10, len(self.cases)))
        pages = {
            Role.VILLAGE_CADRE: ["/", "/cases/", "/clues/", "/households/"]
            + [f"/households/{pk}/" for pk in households],
            Role.TOWNSHIP_REVIEWER: ["/", "/review/", "/cases/", "/clues/"]
            + [f"/households/{pk}/" for pk in households[:4]],
            Role.COUNTY_APPROVER: ["/", "/review/", "/cases/", "/batches/"]
            + [f"/reports/{user.region_id}/"]
            + [f"/cases/{pk}/" for pk in cases[:5]],
        }[role]
        reads = (
            [
                "/api/households/?page_size=20",
                "/api/cases/?page_size=20",
                "/api/clues/?page_size=20",
                "/api/households/?q=%E7%8E%8B",  # 王
            ]
            + [f"/api/members/?household={pk}" for pk in households[:4]]
        )
        if role == Role.COUNTY_APPROVER:
            reads += ["/api/reports/figures/", "/api/dispatch-rounds/"]
        return Client(role=role, headers=headers, pages=pages, reads=reads, rng=rng)

    def list_rows(self, rng: random.Random) -> list[dict]:
        """A department's list: most rows name registered people, some people unknown here."""
        day = (timezone.localdate() - timedelta(days=rng.randint(5, 60))).isoformat()
        rows = []
        for n in range(LIST_ROWS):
            if n < LIST_ROWS * 3 // 5 and self.known_ids:
                number = rng.choice(self.known_ids)
            else:
                first17 = f"630121{rng.randint(1950, 2010)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}"
                first17 += f"{rng.randint(0, 999):03d}"
                number = first17 + check_character(first17)
            rows.append(
                {"姓名": f"名单{n}", "身份证号": number, "预警类型": "疑似辍学", "发生日期": day}
            )
        return rows


def _first(role: str, within: str | None = None) -> User:
    users = User.objects.filter(role=role, is_active=True, region__isnull=False)
    if within:
        users = users.filter(region__code__startswith=Region.prefix_of_code(within))
    user = users.order_by("username").first()
    if user is None:
        raise CommandError(f"数据库中没有可用的{Role(role).label}账号：请先 load_demo")
    return user


def _prefix(user: User) -> str:
    return Region.prefix_of_code(user.region_id)


def _session(user: User) -> str:
    """A signed-in session in the database, as after the sign-in page (and the second
    factor for the roles that need one)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    mark_active(session)  # as the sign-in does (config/sessions.py)
    if user.role in getattr(settings, "SECOND_FACTOR_ROLES", ()):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=MARK, confirmed=True)
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.create()
    return session.session_key


def _case_pool(reviewer: User, rng: random.Random) -> list[tuple[int, str]]:
    """Cases of the reviewer's township for the steps: the benchmark's own from an earlier
    run, topped up to POOL_SIZE from households without an open case. New ones are filed by
    their village's cadre and set straight to reported (the evidence the report step checks
    is not what this measures)."""
    township = _prefix(reviewer)
    ours = Case.objects.filter(
        description=MARK,
        household__village__code__startswith=township,
        status__in=[Status.REPORTED, Status.TOWNSHIP_APPROVED],
    )
    cases = list(ours.values_list("pk", "status"))
    cadres = {
        user.region_id: user
        for user in User.objects.filter(
            role=Role.VILLAGE_CADRE, is_active=True, region__code__startswith=township
        )
    }
    open_households = Case.objects.exclude(
        status__in=[Status.CLEARED, Status.REJECTED, Status.CANCELLED, Status.TERMINATED]
    ).values("household_id")
    candidates = list(
        Household.objects.filter(village_id__in=cadres, closed_on__isnull=True)
        .exclude(pk__in=open_households)
        .order_by("pk")
    )
    rng.shuffle(candidates)
    made = []
    for household in candidates:
        if len(cases) + len(made) >= POOL_SIZE:
            break
        try:
            case = case_create(
                household=household,
                category=Category.SUDDEN,
                channel=Channel.CADRE_SCREENING,
                risk_codes=["01"],
                found_on=timezone.localdate(),
                by=cadres[household.village_id],
                description=MARK,
            )
        except (DomainError, ValidationError):
            continue  # a household the filing rules refuse
        made.append(case.pk)
    Case.objects.filter(pk__in=made).update(status=Status.REPORTED)
    cases += [(pk, Status.REPORTED) for pk in made]
    if not cases:
        raise CommandError("找不到可用于审核步骤的农户：请先 load_demo")
    return cases
