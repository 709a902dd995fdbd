"""manage.py bench_load, briefly: its clients sign in, read, take case steps and push lists
against a real gunicorn and worker, and every request answers as expected (the figures of a
full run are in README)."""

import io
import re

import pytest
from django.core.management import call_command

from accounts.choices import Role
from accounts.models import User
from monitor.models import Case, CaseTransition, Department, WarningBatch
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY
from tests.faults.conftest import shared_database_url
from tests.faults.services import RedisServer, app_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_short_load_run_answers_every_request_and_matches_every_list(
    tmp_path, registry, users, settings, monkeypatch
):
    account = User.objects.create_user(username="yibao", password="x", role=Role.DEPARTMENT)
    Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    redis = RedisServer(tmp_path)
    redis.start()
    # The command's own processes read the environment: this test's database and Redis.
    env = app_env(tmp_path, database_url=shared_database_url(), redis_url=redis.url(), queue="-")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.REDIS_URL, settings.VAR_DIR = redis.url(), tmp_path
    out = io.StringIO()
    try:
        call_command(
            "bench_load",
            "--minutes=0.15",
            "--clients=10",
            "--think=0.2",
            "--gunicorn-workers=2",
            "--celery-concurrency=1",
            "--warmup=0",  # every step taken is then a step counted
            stdout=out,
        )
    finally:
        redis.stop()
    text = out.getvalue()
    rows = {
        line.split()[0]: line.split()[1:]
        for line in text.splitlines()
        if re.match(r"^(page|api|transition|push|all) ", line)
    }
    assert set(rows) == {"page", "api", "transition", "push", "all"}, text
    assert rows["all"][-1] == "0", text  # errors
    assert "错误：无" in text
    pushed = WarningBatch.objects.filter(batch_key__startswith="bench-")
    assert pushed.exists() and not pushed.exclude(status="done").exists(), text
    assert f"推送 {pushed.count()} 份，匹配完成 {pushed.count()}，失败 0，未处理 0" in text
    # The steps were taken through the workflow, each one recorded.
    steps = CaseTransition.objects.filter(
        case__description="压力测试", action__in=["township_approve", "county_return"]
    ).count()
    assert steps == int(rows["transition"][0]) > 0
    assert Case.objects.filter(description="压力测试").count() == 60
