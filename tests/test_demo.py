import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from households.models import Household, Member, MonitoringLine
from monitor.demo_history import HISTORY_USERS, NEWEST_FINDING_DAYS
from monitor.models import Case, Clue, DispatchRound

pytestmark = pytest.mark.django_db


def test_the_demo_loads_and_loads_again_without_duplicates(
    settings, tmp_path, eager_celery, django_capture_on_commit_callbacks
):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=out)
    text = out.getvalue()
    assert "推送 120 行" in text
    # Two lists: the county sent the first one's clues down (下发批次), the second waits.
    assert "已由县级下发到村" in text and "待县级下发" in text
    # This month's two lists (the history's earlier ones: tests/test_demo_history.py).
    rounds = DispatchRound.objects.filter(
        county_id="630121000000", batch__batch_key__startswith="演示-医保-"
    ).order_by("batch_id")
    assert [
        (
            r.batch.batch_key,
            r.dispatched_by_id is not None,
            Clue.objects.filter(source_batch=r.batch).count(),
        )
        for r in rounds
    ] == [
        ("演示-医保-2026-09", True, 21),
        ("演示-医保-2026-10", False, 24),
    ]
    assert Clue.objects.filter(status="verifying", source_batch=rounds[0].batch).exists()
    assert Clue.objects.filter(status="pending_dispatch", source_batch=rounds[1].batch).exists()
    assert "cun_dongguan" in text and "接口密钥" in text
    assert (Household.objects.count(), Member.objects.count()) == (300, 1081)
    recent = Case.objects.filter(
        found_on__gt=timezone.localdate() - timedelta(days=NEWEST_FINDING_DAYS)
    )
    assert sorted(recent.values_list("status", flat=True)) == [
        "applied",
        "draft",
        "draft",
        "draft",
        "monitoring",
        "reported",
        "township_approved",
    ]
    assert User.objects.count() == 7 + len(HISTORY_USERS)
    cases = Case.objects.count()
    again = io.StringIO()
    call_command("load_demo", stdout=again)
    assert (Household.objects.count(), Member.objects.count(), Case.objects.count()) == (
        300,
        1081,
        cases,
    )
    # The passwords printed the second time are the ones that were set the first time.
    line = next(row for row in again.getvalue().splitlines() if "cun_dongguan" in row)
    assert User.objects.get(username="cun_dongguan").check_password(line.split()[1])


def test_every_role_opens_on_a_real_queue_in_the_demo(
    client, settings, tmp_path, eager_celery, django_capture_on_commit_callbacks
):
    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())
    waiting = {
        "cun_dongguan": ["待核实的预警线索", "村级核实中"],
        "cun_xiangyang": ["村级核实中"],
        "zhen_qiaotou": ["村级已上报", "待乡镇受理"],
        "xian_datong": ["乡镇已审核"],
    }
    for username, texts in waiting.items():
        client.force_login(User.objects.get(username=username))
        page = client.get("/").content.decode()
        for text in texts:
            assert text in page, (username, text)
    # The county's rounds: one sent, one waiting with its clues in the county's inbox.
    client.force_login(User.objects.get(username="xian_datong"))
    rounds = client.get("/rounds/").content.decode()
    # The history's four earlier lists were sent down too.
    assert "预警信息下发 5 次" in rounds and "待下发 1 批" in rounds
    assert "待下发的预警线索" in client.get("/clues/").content.decode()


@pytest.mark.parametrize(
    "moment",
    [
        # Past the years the demo once had lines for; January also puts last month's report
        # and lists in the year before.
        datetime(2027, 1, 10, 2, 0, tzinfo=UTC),
        datetime(2030, 7, 1, 2, 0, tzinfo=UTC),
    ],
)
def test_the_demo_loads_in_a_later_year(
    moment, settings, tmp_path, eager_celery, django_capture_on_commit_callbacks
):
    settings.VAR_DIR = tmp_path
    with time_machine.travel(moment, tick=False):
        today = timezone.localdate()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("load_demo", stdout=io.StringIO())
        recent = Case.objects.filter(found_on__gt=today - timedelta(days=NEWEST_FINDING_DAYS))
        statuses = sorted(recent.values_list("status", flat=True))
    lines = MonitoringLine.objects.filter(region_id="630000000000")
    assert {today.year, today.year - 1} <= set(lines.values_list("year", flat=True))
    assert (Household.objects.count(), Member.objects.count()) == (300, 1081)
    # The same demo as in any other year: its current cases, each at its step.
    assert statuses == [
        "applied",
        "draft",
        "draft",
        "draft",
        "monitoring",
        "reported",
        "township_approved",
    ]
