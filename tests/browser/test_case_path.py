"""The whole path in a real Chromium, each step through the pages as the people who take it:
a village cadre opens a clue from the department feed, turns it into a case, records the
home visit, consent, cross-check, appraisal and public notice, and reports; the township
approves; the county approves (several at once, from its queue); the cadre records a
measure; and the case shows as in monitoring on every role's pages."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from households.importing import registry_import
from households.models import MonitoringLine, RegistryImport
from households.services import income_record_save
from monitor.feeds.dispatch import round_dispatch
from monitor.feeds.intake import receive_file
from monitor.feeds.matching import process_batch
from monitor.models import Case, Clue, Department, DispatchRound
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, DEMO_DIR, PDF, VILLAGE_A

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

TODAY = timezone.localdate()
# The clue came in last week: the procedure (visit, appraisal, a five-day notice that has
# ended) fits between then and today without moving the clock.
RAISED = TODAY - timedelta(days=9)


def _day(offset: int) -> str:
    return (RAISED + timedelta(days=offset)).isoformat()


@pytest.fixture
def demo_feed(regions, users):
    """The demo registry and the demo medical-insurance list, pushed by the department."""
    for name, kind in (
        ("registry_households.csv", RegistryImport.Kind.HOUSEHOLDS),
        ("registry_members.csv", RegistryImport.Kind.MEMBERS),
    ):
        registry_import(
            data=(DEMO_DIR / name).read_bytes(), filename=name, scope_prefix=None, kind=kind
        )
    for year in (TODAY.year - 1, TODAY.year):
        MonitoringLine.objects.create(region_id="630000000000", year=year, amount=Decimal("7800"))
    department = Department.objects.create(
        name="大通县医疗保障局",
        kind=DepartmentKind.MEDICAL_INSURANCE,
        region_id=COUNTY,
        account=users["department"],
    )
    data = (DEMO_DIR / "warnings_medical.csv").read_bytes()
    received = receive_file(
        department=department,
        batch_key="医保-演示",
        data=data,
        file_name="warnings_medical.csv",
        max_bytes=len(data) + 1,
    )
    process_batch(received.batch.pk)
    # The county sends the list's clues down to the villages (下发批次).
    county_round = DispatchRound.objects.get(batch_id=received.batch.pk, county_id=COUNTY)
    round_dispatch(round_id=county_round.pk, by=users["approver"])
    clue = Clue.objects.filter(village_id=VILLAGE_A, status="verifying").order_by("id").first()
    assert clue is not None, "the demo list raises clues in 东关村"
    Clue.objects.filter(pk=clue.pk).update(raised_on=RAISED)
    return clue


def _as(page, live_server, login, username):
    page.context.clear_cookies()
    login(page, live_server, username, f"pw-{username}")


def _open_and_fill(page, summary: str, fields: dict) -> None:
    toggle = page.locator("summary", has_text=summary)
    if not toggle.evaluate("summary => summary.parentElement.open"):
        toggle.click()
    for label, value in fields.items():
        page.get_by_label(label).fill(value)


def test_a_clue_becomes_a_monitored_case_through_the_pages(
    page, live_server, login, shot, demo_feed, tmp_path
):
    clue = demo_feed
    number = clue.household.number

    # The village cadre: the clue waits on the home page.
    _as(page, live_server, login, "cadre_a")
    expect(page.locator("#queue-clues")).to_contain_text(number)
    shot(page, "cadre-home")
    page.locator("#queue-clues").get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name="核实反馈")).to_be_visible()
    expect(page.get_by_text("高额医疗自付").first).to_be_visible()
    shot(page, "clue")

    # 纳入监测 with the risk type read from the indicator (因病, pre-ticked).
    page.get_by_label("纳入监测", exact=True).check()
    page.get_by_label("核实说明").fill("入户核实：户主住院治疗，自付费用高，情况属实")
    page.get_by_label("突发严重困难户").check()
    expect(page.get_by_label("因病", exact=True)).to_be_checked()
    page.get_by_role("button", name="提交核实结果").click()
    expect(page.locator("#case-status")).to_have_text("村级核实中")
    case = Case.objects.get(household=clue.household)
    shot(page, "case-filed")
    # 收入测算 of the 12 months before the finding (kept on the household's income page; set
    # here, it is not this path's subject): the hospital bills leave little after them.
    income_record_save(
        household=clue.household,
        year=RAISED.year,
        period_end=RAISED,
        wage_income=Decimal("20000"),
        medical_expense=Decimal("18000"),
    )

    # The evidence, step by step; the report button appears once nothing is missing.
    expect(page.get_by_role("button", name="村级上报")).to_have_count(0)
    expect(page.locator("#actions")).to_contain_text("未登记入户核实")
    _open_and_fill(
        page,
        "登记入户核实",
        {
            "核实日期": _day(1),
            "核实人员": "李书记、张网格员",
            "核实情况": "户主住院，家中无其他收入",
        },
    )
    page.get_by_role("button", name="保存入户核实").click()
    expect(page.get_by_text("已登记入户核实。")).to_be_visible()

    scan = tmp_path / "承诺授权书.pdf"
    scan.write_bytes(PDF)
    _open_and_fill(page, "登记承诺授权", {"签署日期": _day(1)})
    page.get_by_label(re.compile("签字扫描件")).set_input_files(str(scan))
    page.get_by_role("button", name="保存承诺授权").click()
    expect(page.get_by_text("已登记承诺授权。")).to_be_visible()

    # 信息比对: every item of the negative list, 未发现 ticked by default.
    _open_and_fill(page, "登记信息比对", {"比对日期": _day(1)})
    page.get_by_role("button", name="保存信息比对").click()
    expect(page.get_by_text("已登记信息比对。")).to_be_visible()

    _open_and_fill(page, "登记民主评议", {"评议日期": _day(2), "参会人数": "21"})
    page.get_by_label("评议结果").select_option(label="评议通过")
    page.get_by_role("button", name="保存民主评议").click()
    expect(page.get_by_text("已登记民主评议。")).to_be_visible()

    _open_and_fill(page, "登记公示", {"公示开始日期": _day(2), "公示结束日期": _day(7)})
    page.get_by_role("button", name="保存公示").click()
    expect(page.get_by_text("已登记公示。")).to_be_visible()
    expect(page.locator("#actions .unmet")).to_have_count(0)
    shot(page, "evidence-complete")
    page.get_by_role("button", name="村级上报").click()
    expect(page.locator("#case-status")).to_have_text("村级已上报")
    shot(page, "reported")

    # The township reviewer: the case is in the review queue; approve it on its page.
    _as(page, live_server, login, "reviewer_1")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="审核").click()
    queue = page.locator("#queue-reported")
    expect(queue).to_contain_text(number)
    shot(page, "township-queue")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.get_by_label("意见").fill("材料齐全，同意")
    page.get_by_role("button", name="乡镇审核通过").click()
    expect(page.locator("#case-status")).to_have_text("乡镇已审核")
    shot(page, "township-approved")

    # The county approver: approves from the queue, several at once, each result shown.
    _as(page, live_server, login, "approver")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="审核").click()
    queue = page.locator("#queue-township_approved")
    expect(queue).to_contain_text(number)
    queue.get_by_label(re.compile("选择")).first.check()
    queue.get_by_placeholder("审核意见（可选）").fill("同意纳入监测")
    queue.get_by_role("button", name=re.compile("县级审定纳入监测")).click()
    results = page.locator("#batch-results")
    expect(results).to_contain_text("监测帮扶中")
    expect(results.locator(".met")).to_have_count(1)
    shot(page, "county-approved")

    # The cadre records a measure with the member who benefits.
    _as(page, live_server, login, "cadre_a")
    page.goto(f"{live_server.url}/cases/{case.pk}/aid/")
    page.get_by_label("措施类别").select_option(label="健康帮扶")
    page.get_by_label("措施内容").fill("大病专项救治、医疗救助")
    page.get_by_label("责任单位").fill("县医疗保障局")
    page.get_by_label("金额（元）").fill("3000")
    page.locator("#measures input[name='measure-beneficiaries']").first.check()
    page.get_by_role("button", name="保存帮扶措施").click()
    expect(page.get_by_text("已登记帮扶措施：健康帮扶。")).to_be_visible()
    expect(page.locator("#measures")).to_contain_text("3,000.00 元")
    shot(page, "measure")

    # In monitoring on every role's pages.
    for username in ("cadre_a", "reviewer_1", "approver"):
        _as(page, live_server, login, username)
        page.goto(f"{live_server.url}/cases/?status=monitoring")
        expect(page.locator("table.list")).to_contain_text(number)
        page.goto(f"{live_server.url}/households/{clue.household_id}/")
        expect(page.locator("h1 .colour")).to_contain_text("红色")
        expect(page.get_by_text("监测帮扶中").first).to_be_visible()
        page.goto(f"{live_server.url}/")
        expect(page.locator(".stat").first).to_contain_text("1")
        shot(page, f"{username}-home")
    assert Case.objects.get(pk=case.pk).status == "monitoring"
