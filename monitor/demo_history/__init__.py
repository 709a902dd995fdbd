"""演示历史: two years of the demo county's past (大通县), so that the report pages and the
monthly report have figures to show.

`demo_history_load(today)` runs once, after the demo's current cases (monitor/demo.py). It
writes about sixty cases found over the 24 months before today in the county's six villages
— cleared (帮扶消除, four 自然消除), in monitoring (some with confirmed 动态调整), two
relapses (返贫), one ended with its household (销户终止), a few refused or withdrawn, a few
in the steps of clearance — with their evidence, deadlines, income records, measures,
monthly and follow-up visits and announcements; four earlier lists of the demo department
with their rounds and verified clues; three self-applications (一键申报); and the county's
monthly report of last month.

Written with the ORM, not the services: the services check every date against today and
refuse back-dated steps. What is written has the services' shape. A case's steps are taken
from the workflow table (`STEPS`): each is checked as it is written against the state it
leaves and the actor's role, and has the step's effects (identified_on at 县级审定,
cleared_on, the kind and the end of 消除后跟踪 at 县级审定风险消除, the reason of a refusal);
its trail row names the actor, role and region. Every row the database stamps on insert (the
trail, evidence, visits, clues …) gets the day it pretends with one UPDATE per table at the
end. The actors are the demo users; the villages and the township without one get an account
that cannot sign in, so that a trail row names someone of the case's own region, as the
services' scope rules would have it.

The package: `catalogue` (actors, dates, words and weights), `writer` (households, cases
and their steps), `records` (measures, visits, clocks, the writing out), `cases` and `feeds`
(the scenario).

Deterministic: one seeded generator, households in number order; days relative to today.
The households named in the department's sample list (demo_feed_load, next) are left alone,
so that list matches as it always did.
"""

from collections import defaultdict
from datetime import date

from django.db import transaction
from django.utils import timezone

from households.models import Region
from monitor.choices import Status
from monitor.demo_history.cases import cases_write
from monitor.demo_history.catalogue import COUNTY, HISTORY_USERS, NEWEST_FINDING_DAYS
from monitor.demo_history.feeds import applications_write, department_lists_write
from monitor.demo_history.records import local_time
from monitor.demo_history.writer import History
from monitor.reports.monthly import monthly_report_generate, previous_month

__all__ = ["HISTORY_USERS", "NEWEST_FINDING_DAYS", "demo_history_load"]


def demo_history_load(today: date) -> list[str]:
    """Write the history (once: `load_demo` calls it with the demo's first cases) and the
    county's monthly report of last month; return the lines `load_demo` prints."""
    with transaction.atomic():
        history = History(today)
        relapsing = cases_write(history)
        feeds = department_lists_write(history, relapsing)
        applications = applications_write(history)
        history.flush()
        county = Region.objects.get(code=COUNTY)
        month = previous_month(today)
        report, created = monthly_report_generate(county=county, month=month)
        if created:
            type(report).objects.filter(pk=report.pk).update(
                generated_at=min(local_time(today.replace(day=1), 1), timezone.now())
            )
    statuses = defaultdict(int)
    for story in history.stories:
        statuses[story.case.status] += 1
    refused = statuses[Status.REJECTED] + statuses[Status.CANCELLED]
    in_clearance = (
        statuses[Status.CLEARANCE_PROPOSED] + statuses[Status.CLEARANCE_TOWNSHIP_APPROVED]
    )
    relapses = sum(1 for story in history.stories if story.case.relapse_of_id)
    return [
        f"近两年历史：监测案例 {len(history.stories)} 件（风险已消除 {statuses[Status.CLEARED]}，"
        f"监测帮扶中 {statuses[Status.MONITORING]}，风险消除审核中 {in_clearance}，"
        f"销户终止 {statuses[Status.TERMINATED]}，不予纳入或撤销 {refused}；其中返贫 {relapses}）",
        f"历史预警名单 {feeds['batches']} 批，线索 {feeds['clues']} 条均已核实反馈"
        f"（纳入监测 {feeds['identified']}）；农户自主申报 {applications} 件",
        f"月报告：{county.name} {month:%Y年%m月} " + ("已生成" if created else "已存在"),
    ]
