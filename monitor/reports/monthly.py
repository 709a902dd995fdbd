"""月报告: each county's figures as of the last day of a month, generated on the 1st of the
next month by Celery beat and kept as they were (a later correction of the data shows in
the next report, not in this one). Viewable as a page, downloadable as Excel."""

import logging
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

from django.db import IntegrityError, transaction
from django.db.models.functions import Substr

from accounts.scope import report_prefix_of
from households.choices import RegionLevel
from households.models import Household, Region
from monitor.models import MonthlyReport
from monitor.reports.facts import case_facts_refresh
from monitor.reports.figures import region_figures
from sheets.writing import Column, WorkbookWriter

logger = logging.getLogger(__name__)


def month_end(month: date) -> date:
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def monthly_reports_for(user):
    """The monthly reports of the counties inside the user's region (a county's staff see
    their county's; a province's statistics viewer every county's)."""
    prefix = report_prefix_of(user)
    if prefix is None:
        return MonthlyReport.objects.none()
    return MonthlyReport.objects.filter(county__code__startswith=prefix)


def monthly_report_generate(*, county: Region, month: date, by=None) -> tuple[MonthlyReport, bool]:
    """The county's report for the month, made once: asking again returns the one kept
    (and False)."""
    month = month.replace(day=1)
    existing = MonthlyReport.objects.filter(county=county, month=month).first()
    if existing is not None:
        return existing, False
    figures = region_figures(county, month_end(month))
    try:
        with transaction.atomic():
            report = MonthlyReport.objects.create(
                county=county, month=month, as_of=month_end(month), figures=figures, generated_by=by
            )
    except IntegrityError:
        # Two runs at once (beat twice, or a person and beat): the first one is kept.
        return MonthlyReport.objects.get(county=county, month=month), False
    return report, True


def monthly_reports_generate(*, today: date) -> dict:
    """Beat, daily: last month's report of every county that has households (a county
    since retired included: its households still count), once. A county that fails is
    logged and retried the next day; the others are made."""
    month = previous_month(today)
    county_codes = set(
        Household.objects.annotate(county_digits=Substr("village_id", 1, 6))
        .values_list("county_digits", flat=True)
        .distinct()
    )
    counties = [
        county
        for county in Region.objects.filter(level=RegionLevel.COUNTY).order_by("code")
        if county.code[:6] in county_codes
    ]
    missing = [
        county
        for county in counties
        if not MonthlyReport.objects.filter(county=county, month=month).exists()
    ]
    if missing:
        # What is kept must not carry a fact a write path forgot to mark: rebuild them all.
        case_facts_refresh(full=True)
    made, failed = 0, []
    for county in missing:
        try:
            _, created = monthly_report_generate(county=county, month=month)
        except Exception:
            logger.exception("monthly report of county %s for %s failed", county.code, month)
            failed.append(county.code)
            continue
        made += created
    return {"month": month.isoformat(), "reports": made, "failed": failed}


# --- Excel --------------------------------------------------------------------------------


class Kept(dict):
    """A kept report's figures: a figure added to the reports after the report was made is
    simply absent (an empty entry), not an error."""

    def __missing__(self, key):
        return Kept()


def kept(value):
    if isinstance(value, dict):
        return Kept({key: kept(item) for key, item in value.items()})
    if isinstance(value, list):
        return [kept(item) for item in value]
    return value


def _number(value):
    return value if isinstance(value, int | float) and not isinstance(value, bool) else "—"


def _percent(value) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) else "—"


def _pair(entry: dict) -> list:
    return [_number(entry["households"]), _number(entry["people"])]


def summary_rows(figures: dict) -> list[list]:
    """The figures as (项目, 户数, 人数) rows, in the order of the page."""
    figures = kept(figures)
    rows: list[list] = [["监测对象（截止日）", *_pair(figures["monitored"])]]
    rows += [[f"  其中{r['label']}", *_pair(r)] for r in figures["monitored"]["by_category"]]
    rows.append(["  其中返贫（消除后再次纳入）", *_pair(figures["monitored"]["relapse"])])
    rows.append(["识别认定中", *_pair(figures["identifying"])])
    rows.append(["本月新识别", *_pair(figures["new"]["month"])])
    rows.append(["本年新识别", *_pair(figures["new"]["year"])])
    rows.append(["本年返贫新识别", *_pair(figures["new"]["relapse_year"])])
    rows.append(["累计识别", *_pair(figures["ever"])])
    rows += [[f"  其中{r['label']}", *_pair(r)] for r in figures["ever"]["by_category"]]
    rows.append(["风险消除", *_pair(figures["cleared"])])
    rows += [[f"  其中{r['label']}", *_pair(r)] for r in figures["cleared"]["by_kind"]]
    rows.append(["销户终止", *_pair(figures["terminated"])])
    rate = figures["clearance_rate"]
    rows.append(
        [
            "风险消除率",
            _percent(rate["households"]),
            _percent(rate["people"]),
        ]
    )
    rows += [[f"主要风险：{r['label']}", *_pair(r)] for r in figures["monitored"]["by_main_risk"]]
    rows += [[f"风险类型：{r['label']}", *_pair(r)] for r in figures["monitored"]["by_risk"]]
    rows += [[f"发现渠道：{r['label']}", *_pair(r)] for r in figures["monitored"]["by_channel"]]
    rows += [
        [f"帮扶措施：{r['label']}", _number(r["households"]), ""]
        for r in figures["measures"]["by_category"]
    ]
    rows.append(["监测中未落实帮扶措施", *_pair(figures["measures"]["monitored_without"])])
    days = figures["identification_days"]
    rows.append(["识别用时平均（天）", _number(days["average"]), None])
    rows.append(["识别用时90%分位（天）", _number(days["p90"]), None])
    rows += [
        [f"超期环节：{r['label']}", _number(r["count"]), None]
        for r in figures["overdue"]["by_level"]
    ]
    rows.append(["预警线索核实超期", _number(figures["overdue"]["clues"]), None])
    clues = figures["clues"]
    rows.append(["预警下发批次（累计）", _number(figures["rounds"]["total"]), None])
    rows.append(["预警线索（累计）", _number(clues["raised"]), None])
    rows.append(["已核实反馈", _number(clues["verified"]), None])
    rows.append(["核实后纳入监测", _number(clues["identified"]), None])
    rows.append(["线索转化率", _percent(clues["yield"]), None])
    rows.append(["农户自主申报", _number(figures["self_applications"]["submitted"]), None])
    rows.append(["  其中纳入监测", _number(figures["self_applications"]["admitted"]), None])
    return rows


CHILD_HEADER = [
    "区划代码",
    "名称",
    "监测中（户）",
    "监测中（人）",
    "累计识别（户）",
    "累计识别（人）",
    "风险消除（户）",
    "风险消除（人）",
    "本月新识别（户）",
    "识别认定中（户）",
    "未落实措施（户）",
]


def child_rows(figures: dict) -> list[list]:
    figures = kept(figures)
    return [
        [
            child["code"],
            child["name"],
            *_pair(child["monitored"]),
            *_pair(child["ever"]),
            *_pair(child["cleared"]),
            _number(child["new_month"]["households"]),
            _number(child["identifying"]["households"]),
            _number(child["monitored_without_measure"]["households"]),
        ]
        for child in figures.get("children", [])
    ]


def monthly_report_workbook(report: MonthlyReport) -> BinaryIO:
    """The report as an Excel file, opened for reading (a temporary file that is gone once
    closed: the kept figures are the record, the workbook is made from them each time)."""
    figures = report.figures
    title = (
        f"{report.county.name} {report.month:%Y年%m月} 防止返贫监测月报告（截至 {report.as_of}）"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "monthly.xlsx"
        with WorkbookWriter(path) as book:
            summary = book.sheet("汇总", [Column("项目", 36), Column("户数"), Column("人数")])
            summary.append([title, None, None])
            summary.extend(summary_rows(figures))
            children = book.sheet(
                "下级区划",
                [Column(CHILD_HEADER[0], 16, text=True)]
                + [Column(title, 14) for title in CHILD_HEADER[1:]],
            )
            children.extend(child_rows(figures))
            definitions = book.sheet("统计口径", [Column("口径", 20), Column("说明", 90)])
            definitions.extend(
                [key, str(text)] for key, text in kept(figures)["definitions"].items()
            )
        handle = path.open("rb")
    # The folder is gone; the open handle keeps the bytes until it is closed.
    return handle
