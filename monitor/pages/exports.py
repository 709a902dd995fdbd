"""台账导出 pages: the user's exports with the form to ask for one, a job's page that
follows its progress (htmx polls the status block every 2 seconds while the job waits or
runs) and then offers the download until the link expires.

The form posts to one service (`export_request`); the download asks `export_download`,
which answers the same refusals as the API: someone else's export is a 404, one still
being built a 409, one past its expiry a 410 (shown as a page saying so)."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import policy
from config.errors import DomainError
from config.pages import call_service, is_htmx, people_page_for
from households.models import Region
from monitor.forms import ChineseForm
from monitor.models import ExportJob
from monitor.reports.exports import (
    export_download,
    export_file_response,
    export_regions_for,
    export_request,
    exports_for,
    ttl_hours,
)
from monitor.reports.selectors import ISO_DAY

JOBS_PER_PAGE = 20
State = ExportJob.State
STATE_BADGE = {
    State.QUEUED: "info",
    State.RUNNING: "info",
    State.DONE: "ok",
    State.FAILED: "bad",
    State.EXPIRED: "",
}
export_page_guard = people_page_for("report.export")


class ExportForm(ChineseForm):
    kind = forms.ChoiceField(
        label="台账类型",
        choices=ExportJob.Kind.choices,
        initial=ExportJob.Kind.LEDGER,
        widget=forms.RadioSelect,
    )
    region = forms.ChoiceField(label="导出区划")
    as_of = forms.DateField(
        label="统计截止日期",
        help_text="监测对象台账按该日结束时的情况（状态、各环节日期、措施）；花名册为当前登记情况",
    )
    full_ids = forms.BooleanField(
        label="导出完整身份证号和联系电话（须填写理由，留痕备查）", required=False
    )
    reason = forms.CharField(
        label="导出完整号码的理由", max_length=300, required=False, widget=forms.TextInput
    )

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.regions = {region.code: region for region in regions}
        self.fields["region"].choices = [
            (region.code, region.name if i == 0 else f"　{region.name}")
            for i, region in enumerate(regions)
        ]


def _job_context(job: ExportJob) -> dict:
    now = timezone.now()
    valid = job.state == State.DONE and (job.expires_at is None or job.expires_at > now)
    percent = 100 if job.state == State.DONE else None
    if percent is None and job.rows_total:
        percent = min(100, job.rows_done * 100 // job.rows_total)
    return {
        "job": job,
        "badge": STATE_BADGE.get(job.state, ""),
        "polling": job.state in (State.QUEUED, State.RUNNING),
        "percent": percent,
        "downloadable": valid,
        "lapsed": job.state == State.EXPIRED or (job.state == State.DONE and not valid),
    }


def _render_list(request, form, status=200):
    user = request.user
    page = Paginator(exports_for(user), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    for job in page:
        job.badge = STATE_BADGE.get(job.state, "")
    return render(
        request,
        "reports/exports/export_list.html",
        {
            "form": form,
            "page": page,
            "ttl_hours": ttl_hours(),
            "may_full_ids": policy.allows(user, "report.export_full_ids"),
        },
        status=status,
    )


def _with_named(user, regions: list, code: str) -> tuple[list, Region | None]:
    """The form offers the user's region and the ones right below; a region further down
    that a report page links to (a village of the county) is offered too, when the user may
    export it."""
    named = Region.objects.filter(code=code[:12]).first() if code else None
    if named is None or named in regions:
        return regions, named
    if not policy.allows(user, "report.export", named):
        return regions, None
    return [*regions, named], named


@export_page_guard
@require_http_methods(["GET", "POST"])
def export_list_page(request):
    """我的导出 and the form to ask for a new one."""
    regions = export_regions_for(request.user)
    if request.method == "GET":
        # The report page's link names the region and day it was showing.
        regions, named = _with_named(request.user, regions, request.GET.get("region", ""))
        as_of = request.GET.get("as_of", "")
        form = ExportForm(
            regions=regions,
            initial={
                "as_of": as_of if ISO_DAY.fullmatch(as_of) else timezone.localdate(),
                "region": named.code if named is not None else request.user.region_id,
            },
        )
        return _render_list(request, form)
    regions, _ = _with_named(request.user, regions, request.POST.get("region", ""))
    form = ExportForm(request.POST, regions=regions)
    if form.is_valid():
        data = form.cleaned_data
        job = call_service(
            form,
            export_request,
            by=request.user,
            kind=data["kind"],
            region=form.regions[data["region"]],
            as_of=data["as_of"],
            full_ids=data["full_ids"],
            reason=data["reason"],
            request=request,
        )
        if job is not None:
            messages.success(request, "已提交导出申请，生成完成后可在本页下载。")
            return redirect("export-page", job.pk)
    return _render_list(request, form, status=400)


def _own_job(user, pk) -> ExportJob:
    job = exports_for(user).filter(pk=pk).first()
    if job is None:
        raise Http404("未找到该导出任务。")
    return job


@export_page_guard
def export_page(request, pk):
    """One export: its progress while it is built, then its download link and expiry. The
    status block alone when htmx asks for it (polling stops once the job is finished)."""
    context = _job_context(_own_job(request.user, pk))
    if is_htmx(request):
        return render(request, "reports/exports/_job_status.html", context)
    return render(request, "reports/exports/export_page.html", context)


@export_page_guard
def export_download_page(request, pk):
    try:
        job, path = export_download(job_id=pk, by=request.user)
    except DomainError as exc:
        if exc.http_status == 404:
            raise Http404(exc.message) from None
        job = _own_job(request.user, pk)
        return render(
            request,
            "reports/exports/download_refused.html",
            {**_job_context(job), "message": exc.message},
            status=exc.http_status,
        )
    return export_file_response(job, path)
