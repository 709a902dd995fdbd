"""Report pages (统计报表): a region's figures as of a day with charts, one level down by a
click; the counties' monthly reports (月报告), as pages and as Excel."""

from datetime import date
from functools import wraps
from itertools import zip_longest

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts import policy
from accounts.scope import report_prefix_of
from config.errors import DomainError
from households.models import Region
from monitor.charts import bar_chart, share_chart
from monitor.models import MonthlyReport
from monitor.reports.figures import region_figures
from monitor.reports.monthly import kept, monthly_report_workbook, monthly_reports_for
from monitor.reports.selectors import parse_as_of, report_region_for


def report_page(view):
    """Signed in, with a role that reads figures (people roles, statistics viewers)."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        decision = policy.decide(request.user, "report.read")
        if not decision:
            raise PermissionDenied(decision.reason)
        if report_prefix_of(request.user) is None:
            raise PermissionDenied("您的账号未设置管辖范围，请联系系统管理员。")
        return view(request, *args, **kwargs)

    return guarded


def _count(value) -> int:
    return value if isinstance(value, int) else 0


def _figure_context(figures: dict) -> dict:
    """What the figures template shows besides the figures: the charts, and tables that
    join two lists of the figures."""
    monitored = figures["monitored"]
    flow = figures["flow"]
    any_risk = {row["code"]: row for row in monitored["by_risk"]}
    main_risk = {row["code"]: row for row in monitored["by_main_risk"]}
    none = {"households": 0, "people": 0}
    risk_table = [
        {"label": row["label"], "main": main_risk.get(code, none), "any": row}
        for code, row in any_risk.items()
    ]
    return {
        # A kept monthly report made before a figure existed lacks it (monthly.Kept): the
        # lists pair up as far as they go and a missing count is a zero in the charts.
        "category_rows": list(
            zip_longest(monitored["by_category"], figures["ever"]["by_category"], fillvalue={})
        ),
        "risk_table": risk_table,
        "overdue_total": sum(_count(row["count"]) for row in figures["overdue"]["by_level"])
        + _count(figures["overdue"]["clues"]),
        "category_chart": share_chart(
            [(row["label"], _count(row["households"])) for row in monitored["by_category"]]
        ),
        "risk_chart": share_chart(
            [(row["label"], _count(row["households"])) for row in monitored["by_main_risk"]]
        ),
        "flow_chart": bar_chart(
            [row["month"][5:].lstrip("0") + "月" for row in flow],
            [
                ("新识别", [_count(row["identified"]) for row in flow]),
                ("风险消除", [_count(row["cleared"]) for row in flow]),
            ],
        ),
        "measure_chart": share_chart(
            [
                (row["label"], _count(row["households"]))
                for row in figures["measures"]["by_category"]
            ],
            whole=_count(figures["ever"]["households"]),
        ),
    }


def _crumbs(user, region: Region) -> list[Region]:
    """The way down from the user's own region to this one (nothing above the user's)."""
    own = report_prefix_of(user) or ""
    chain = []
    node = region
    while node is not None:
        chain.append(node)
        if node.code.startswith(own) and node.prefix == own:
            break
        node = node.parent
    return list(reversed(chain))


@report_page
def report_home_page(request):
    return redirect("report-page", code=request.user.region_id)


@report_page
def report_page_view(request, code: str):
    try:
        as_of = parse_as_of(request.GET.get("as_of"))
        region = report_region_for(request.user, code)
    except DomainError as exc:
        if exc.http_status == 404:
            raise Http404(exc.message) from exc
        return render(
            request,
            "reports/report_page.html",
            {"error": exc.message, "as_of": request.GET.get("as_of", "")},
            status=exc.http_status,
        )
    figures = region_figures(region, as_of)
    context = {
        "region": region,
        "figures": figures,
        "as_of": as_of,
        "today": timezone.localdate(),
        "crumbs": _crumbs(request.user, region),
        "may_export": policy.allows(request.user, "report.export", region),
        **_figure_context(figures),
    }
    return render(request, "reports/report_page.html", context)


@report_page
def monthly_list_page(request):
    reports = monthly_reports_for(request.user).select_related("county")
    return render(request, "reports/monthly_list.html", {"reports": reports[:240]})


def _monthly_of(request, pk: int) -> MonthlyReport:
    return get_object_or_404(monthly_reports_for(request.user).select_related("county"), pk=pk)


@report_page
def monthly_page(request, pk: int):
    report = _monthly_of(request, pk)
    figures = kept(report.figures)
    context = {
        "report": report,
        "region": report.county,
        "figures": figures,
        "as_of": report.as_of,
        "monthly": True,
        **_figure_context(figures),
    }
    return render(request, "reports/monthly_page.html", context)


@report_page
def monthly_xlsx_page(request, pk: int):
    report = _monthly_of(request, pk)
    name = f"{report.county.name}{report.month:%Y年%m月}防返贫监测月报告.xlsx"
    return FileResponse(
        monthly_report_workbook(report),
        as_attachment=True,
        filename=name,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def report_link(region_code: str, as_of: date) -> str:
    return f"{reverse('report-page', args=[region_code])}?as_of={as_of.isoformat()}"
