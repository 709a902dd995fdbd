"""Load the demo county: regions, the sample registry, monitoring lines and one user per role.

Safe to run again: regions and the registry are upserted, users are created once. Passwords
are generated on first load and kept in var/demo-credentials.txt (mode 600) so every later
run can print them again.
"""

import secrets
import string
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import ApiToken, User
from accounts.passwords import character_classes
from households.importing import registry_import
from households.models import MonitoringLine, Region, RegistryImport
from households.services import regions_load_csv
from monitor.demo import demo_cases_load, demo_feed_load
from monitor.models.feeds import Department, DepartmentKind

DEMO_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "demo"

DEMO_USERS = [
    # username, display name, role, region code
    ("cun_dongguan", "东关村 村干部", Role.VILLAGE_CADRE, "630121100201"),
    ("cun_xiangyang", "向阳村 村干部", Role.VILLAGE_CADRE, "630121101201"),
    ("zhen_qiaotou", "桥头镇 审核人", Role.TOWNSHIP_REVIEWER, "630121100000"),
    ("xian_datong", "大通县 审定人", Role.COUNTY_APPROVER, "630121000000"),
    ("bumen_yibao", "大通县医疗保障局", Role.DEPARTMENT, "630121000000"),
    ("shenji", "审计管理员", Role.AUDITOR, None),
    ("admin", "系统管理员", Role.ADMIN, None),
]

DEMO_PROVINCE = "630000000000"
# The years back from this one that get a line: the demo's cases and its two years of history
# are dated relative to today, and a case cannot be reported without the line of its year.
DEMO_LINE_YEARS = 3


def demo_lines(today: date) -> list[tuple[str, int, Decimal]]:
    """The province's monitoring line of this year and the ones before, whatever the year the
    demo is loaded in (a fixed list of years made `make run` fail once the clock passed it).
    Illustrative figures only (演示数据): real lines come from each province's annual notice;
    these rise by 300 a year through 7,500 for 2025 and 7,800 for 2026."""
    return [
        (DEMO_PROVINCE, year, Decimal(7800 + 300 * (year - 2026)))
        for year in range(today.year - DEMO_LINE_YEARS + 1, today.year + 1)
    ]


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:  # the password rule's three classes (upper, lower, digits): drawn until met
        password = "".join(secrets.choice(alphabet) for _ in range(12))
        if len(character_classes(password)) >= 3:
            return password


class Command(BaseCommand):
    help = "加载演示数据：大通县两个镇六个村、300 户样例农户、各角色演示账号（打印密码）。"

    def handle(self, *args, **options):
        regions = regions_load_csv(text=(DEMO_DIR / "regions.csv").read_text("utf-8"))
        self.stdout.write(f"行政区划：新增 {regions['created']}，更新 {regions['updated']}")
        for code, year, amount in demo_lines(timezone.localdate()):
            MonitoringLine.objects.update_or_create(
                region_id=code,
                year=year,
                defaults={"amount": amount, "source": "演示数据，请按本省当年文件维护"},
            )
        for name, kind in (
            ("registry_households.csv", RegistryImport.Kind.HOUSEHOLDS),
            ("registry_members.csv", RegistryImport.Kind.MEMBERS),
        ):
            record = registry_import(
                data=(DEMO_DIR / name).read_bytes(), filename=name, scope_prefix=None, kind=kind
            )
            self.stdout.write(
                f"{name}：新增 {record.rows_created}，更新 {record.rows_updated}，"
                f"未通过 {record.rows_rejected}"
            )
        credentials = self._credentials()
        cases = demo_cases_load()
        if cases:
            self.stdout.write("演示监测对象：\n  " + "\n  ".join(cases))
        feed = demo_feed_load()
        if feed:
            self.stdout.write("演示预警名单：" + feed)
        self.stdout.write(credentials)

    def _credentials(self) -> str:
        path = Path(settings.VAR_DIR) / "demo-credentials.txt"
        missing = [u for u in DEMO_USERS if not User.objects.filter(username=u[0]).exists()]
        if missing or not path.exists():
            lines = self._create_users()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(lines, encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8")

    @transaction.atomic
    def _create_users(self) -> str:
        lines = ["", "演示账号（用户名 / 密码 / 角色 / 管辖范围）："]
        for username, display, role, region_code in DEMO_USERS:
            password = _password()
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.role = display, role
            user.region = Region.objects.get(code=region_code) if region_code else None
            # The auditor reads the audit log in the admin site; the administrator manages
            # users there. Neither sees households (no region scope).
            user.is_staff = role in (Role.ADMIN, Role.AUDITOR)
            user.is_superuser = role == Role.ADMIN
            if role == Role.DEPARTMENT:
                # A machine account signs in by its key only (the sign-in page refuses it).
                user.set_unusable_password()
            else:
                user.set_password(password)
            user.save()
            scope = user.region.name if user.region else "—"
            shown = "（仅接口密钥）" if role == Role.DEPARTMENT else password
            lines.append(f"  {username:<14} {shown}  {user.get_role_display():<10} {scope}")
            if role == Role.DEPARTMENT:
                Department.objects.update_or_create(
                    account=user,
                    defaults={
                        "name": display,
                        "kind": DepartmentKind.MEDICAL_INSURANCE,
                        "region": user.region,
                    },
                )
                user.api_tokens.all().delete()
                _, raw = ApiToken.issue(user=user, name="演示")
                lines.append(f"  {'':<14} 接口密钥：Token {raw}")
        lines.append("")
        return "\n".join(lines) + "\n"
