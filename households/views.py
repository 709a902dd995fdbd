"""Registry pages: search, and one household with its members, income, cases, measures,
visits and timeline. They share the selectors the API uses, so page and API cannot
disagree on scope or search."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.generic import ListView

from accounts import policy
from accounts.scope import region_prefix_of
from config.pages import call_service, is_htmx, newest, people_page, people_page_for
from config.ratelimit import allow
from households.importing import registry_import_upload
from households.models import Household, IncomeRecord, Member, RegistryImport
from households.selectors import households_for, search_households
from households.services import REVEALABLE_FIELDS, income_record_save, member_reveal
from interventions.insurance import household_insurance, insurance_timeline
from interventions.models import MeasureRecord
from interventions.pages import household_insurance_context
from monitor.choices import CLOSED_STATUSES
from monitor.models import Case, HomeVisit, MonthlyVisit
from monitor.selectors import household_timeline
from sheets.reading import TabularError

# The API's reveal throttle, applied per user on the page too (settings: "reveal").
REVEAL_LIMIT = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["reveal"].split("/")[0])


class HouseholdListPage(LoginRequiredMixin, ListView):
    template_name = "households/household_list.html"
    context_object_name = "households"
    paginate_by = 50

    def get_queryset(self):
        self.search_error = None
        self.query = self.request.GET.get("q", "").strip()
        queryset = households_for(self.request.user).order_by("number")
        try:
            return search_households(queryset, self.query)
        except ValidationError as exc:
            self.search_error = "；".join(exc.messages)
            return queryset.none()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            query=self.query,
            search_error=self.search_error,
            in_scope=region_prefix_of(user) is not None,
            region=user.region,
            can_file=policy.allows(user, "case.file"),
        )
        return context


class RevealForm(forms.Form):
    field = forms.ChoiceField(
        label="查看",
        choices=list(REVEALABLE_FIELDS.items()),
        error_messages={"required": "请选择要查看的号码", "invalid_choice": "请选择要查看的号码"},
    )
    reason = forms.CharField(
        label="查看事由",
        max_length=300,
        min_length=2,
        error_messages={"required": "请填写查看事由", "min_length": "请填写查看事由"},
    )


def _household(user, pk: int) -> Household:
    return get_object_or_404(households_for(user).select_related("village__parent"), pk=pk)


# The household page's timeline: the newest events, the rest one click away. A household on
# every month's department list gathers hundreds of warning rows.
TIMELINE_SHOWN = 50


@people_page
def household_page(request, pk: int):
    household = _household(request.user, pk)
    today = timezone.localdate()
    members = list(household.members.order_by("relation", "birth_date"))
    for member in members:
        member.age = member.age_on(today)
    cases = list(
        Case.objects.filter(household=household).prefetch_related("risks").order_by("-found_on")
    )
    open_case = next((case for case in cases if case.status not in CLOSED_STATUSES), None)
    # Read once, shown in their own blocks and on the timeline.
    measures = list(
        MeasureRecord.objects.filter(case__household=household)
        .select_related("category")
        .prefetch_related(Prefetch("beneficiaries", queryset=Member.objects.only("id", "name")))
        .order_by("-start_on")
    )
    home_visits = list(HomeVisit.objects.filter(case__household=household).order_by("-visited_on"))
    monthly_visits = list(
        MonthlyVisit.objects.filter(case__household=household).order_by("-visited_on")
    )
    insurance = household_insurance(household)
    # The newest events (one more, to know whether there are others); ?timeline=all for all.
    whole_timeline = request.GET.get("timeline") == "all"
    timeline, timeline_cut = newest(
        sorted(
            household_timeline(
                household,
                cases=cases,
                home_visits=home_visits,
                monthly_visits=monthly_visits,
                measures=measures,
                latest=None if whole_timeline else TIMELINE_SHOWN + 1,
            )
            + insurance_timeline(insurance),
            key=lambda event: event["when"],
            reverse=True,
        ),
        TIMELINE_SHOWN,
        whole_timeline,
    )
    context = {
        "household": household,
        "members": members,
        "incomes": IncomeRecord.objects.filter(household=household).order_by("-period_end"),
        "cases": cases,
        "open_case": open_case,
        "measures": measures,
        "home_visits": home_visits,
        "monthly_visits": monthly_visits,
        # A paid 防贫保险 claim (and the enrolment and claim before it) on the one timeline.
        "timeline": timeline,
        "timeline_cut": timeline_cut,
        "timeline_shown": TIMELINE_SHOWN,
        "can_file": open_case is None and policy.allows(request.user, "case.file", household),
        "can_reveal": policy.allows(request.user, "member.reveal"),
        "reveal_form": RevealForm(),
    }
    context.update(household_insurance_context(request.user, household, insurance), today=today)
    return render(request, "households/household_page.html", context)


@people_page
def member_reveal_page(request, pk: int, member_pk: int):
    """ "显示完整号码": asks a reason, writes the audit row (in the service), and shows the
    number in place. Limited per user like the API's reveal."""
    household = _household(request.user, pk)
    member = get_object_or_404(
        Member.objects.visible_to(request.user), pk=member_pk, household=household
    )
    form = RevealForm(request.POST if request.method == "POST" else None)
    value = None
    if form.is_valid():
        if not allow(f"reveal:{request.user.pk}", limit=REVEAL_LIMIT, seconds=3600):
            form.add_error(None, "查看过于频繁，请稍后再试。")
        else:
            value = call_service(
                form,
                member_reveal,
                member=member,
                by=request.user,
                request=request,
                field=form.cleaned_data["field"],
                reason=form.cleaned_data["reason"],
            )
    context = {"household": household, "member": member, "form": form, "value": value}
    template = "households/_reveal.html" if is_htmx(request) else "households/reveal_page.html"
    return render(request, template, context, status=400 if form.errors else 200)


# --- registry import (导入农户信息) -----------------------------------------------------

IMPORT_ERRORS_PER_PAGE = 50
IMPORT_HISTORY = 20
# The whole-file refusals the API answers with 413 (the rest are 400).
TOO_LARGE = ("too_large", "zip_bomb", "too_many_rows")
DETECT = "detect"


class RegistryImportForm(forms.Form):
    kind = forms.ChoiceField(
        label="表格类型",
        choices=[(DETECT, "自动判断（按表头）"), *RegistryImport.Kind.choices],
        initial=DETECT,
        widget=forms.RadioSelect,
        error_messages={"required": "请选择表格类型", "invalid_choice": "请选择有效的表格类型"},
    )
    file = forms.FileField(
        label="登记表文件",
        help_text="CSV（UTF-8 或 GBK 编码）或 Excel .xlsx；先导入农户表，再导入家庭成员表",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx,.xlsm"}),
        error_messages={
            "required": "请选择要上传的文件",
            "empty": "上传的文件是空的",
            "invalid": "没有收到文件，请重新选择后上传",
            "missing": "没有收到文件，请重新选择后上传",
        },
    )


# People pages for the roles that import the registry.
registry_import_guard = people_page_for("registry.import")


def _imports(user):
    # The API's scope for import records (RegistryImportViewSet.get_queryset): a user sees
    # the uploads they made; anyone else's, in or out of their region, is a 404.
    return (
        RegistryImport.objects.filter(imported_by=user)
        .select_related("imported_by")
        .order_by("-imported_at", "-pk")
    )


@registry_import_guard
def registry_import_page(request):
    """导入农户信息: a households or members file through `registry_import_upload`, the
    API's service; the result page follows. A file that cannot be used as a whole is
    refused beside the file field with the service's reason."""
    form = RegistryImportForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
    )
    status = 200
    if form.is_valid():
        kind = form.cleaned_data["kind"]
        try:
            record = call_service(
                form,
                registry_import_upload,
                by=request.user,
                upload=form.cleaned_data["file"],
                kind=None if kind == DETECT else kind,
                request=request,
            )
        except TabularError as exc:
            form.add_error("file", exc.reason)
            status = 413 if exc.code in TOO_LARGE else 400
            record = None
        if record is not None:
            messages.success(
                request,
                f"已导入「{record.file_name}」：共 {record.rows_total} 行，"
                f"新增 {record.rows_created}，更新 {record.rows_updated}，"
                f"未通过 {record.rows_rejected}。",
            )
            target = reverse("registry-import-result-page", args=[record.pk])
            if is_htmx(request):
                return HttpResponse(status=204, headers={"HX-Redirect": target})
            return redirect(target)
    if form.errors and status == 200:
        status = 400
    if is_htmx(request):
        return render(request, "households/import_form.html", {"form": form}, status=status)
    context = {"form": form, "imports": _imports(request.user)[:IMPORT_HISTORY]}
    return render(request, "households/import_page.html", context, status=status)


@registry_import_guard
def registry_import_result_page(request, pk: int):
    """One upload's outcome: the counts and the rejected rows (row, column, masked reason)."""
    record = get_object_or_404(_imports(request.user), pk=pk)
    page = Paginator(record.errors, IMPORT_ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "record": record,
        "page": page,
        # The service keeps the first rejections only; the count stays exact.
        "errors_cut": record.rows_rejected > len(record.errors),
        "imports": _imports(request.user)[:IMPORT_HISTORY],
    }
    return render(request, "households/import_result.html", context)


class IncomeForm(forms.Form):
    """收支: one 12-month period; net and per-capita income are computed by the service."""

    year = forms.IntegerField(label="年度", min_value=2000, max_value=2100)
    period_end = forms.DateField(
        label="统计截止日期",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="不填为当年12月31日（当年则为今天）；收入按截止日前12个月计算",
    )
    household_size = forms.IntegerField(
        label="家庭人口", min_value=1, max_value=50, required=False, help_text="不填取登记成员数"
    )
    wage_income = forms.DecimalField(
        label="工资性收入（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    operating_income = forms.DecimalField(
        label="经营性收入（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    property_income = forms.DecimalField(
        label="财产性收入（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    transfer_income = forms.DecimalField(
        label="转移性收入（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    production_cost = forms.DecimalField(
        label="生产经营性支出（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    medical_expense = forms.DecimalField(
        label="合规自付医疗支出（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    education_expense = forms.DecimalField(
        label="教育支出（元）", min_value=0, max_digits=12, decimal_places=2, required=False
    )
    note = forms.CharField(label="备注", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages = {
                **field.error_messages,
                "required": "此项必填",
                "invalid": "请输入有效的数值或日期",
                "min_value": "不能小于 %(limit_value)s",
                "max_value": "不能大于 %(limit_value)s",
                "max_digits": "数额过大",
                "max_decimal_places": "最多两位小数",
            }


@people_page
def household_income_page(request, pk: int):
    """录入收支 for one period (an existing period is replaced whole, as in the API)."""
    household = _household(request.user, pk)
    decision = policy.decide(request.user, "household.edit", household)
    if not decision:
        raise PermissionDenied(decision.reason)
    form = IncomeForm(request.POST or None, initial={"year": timezone.localdate().year})
    if request.method == "POST" and form.is_valid():
        data = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
        record = call_service(
            form, income_record_save, household=household, by=request.user, **data
        )
        if record is not None:
            messages.success(
                request,
                f"已保存 {record.year} 年收支：人均纯收入 {record.per_capita_net_income:,.2f} 元。",
            )
            return redirect("household-page", household.pk)
    return render(
        request,
        "households/income_page.html",
        {"household": household, "form": form},
        status=400 if form.errors else 200,
    )
