"""管理 pages: departments and their API keys, screening thresholds and monitoring lines.

Who may open them is the policy's answer (`department.manage`, `threshold.manage`,
`monitoring_line.manage`: county approvers for their county, the administrator anywhere);
other roles get a 403 with its reason. Each page reads through the selectors of
monitor/administration.py, so a record outside the user's region is a 404, and writes
through one service, which asks the policy again with the record itself.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import policy
from config.pages import call_service
from households import services as registry
from interventions.insurance import INSURANCE_MANAGE, insurance_policies_managed_by
from monitor import administration as admin
from monitor.models.feeds import DepartmentKind
from monitor.regional import REGION_POLICY_MANAGE, region_policies_managed_by

PAGE_SIZE = 50


def manage_page(*actions: str):
    """Signed in, and a role the policy lets take one of these actions (else 403)."""

    def decorate(view):
        @login_required
        @wraps(view)
        def guarded(request, *args, **kwargs):
            decisions = [policy.decide(request.user, action) for action in actions]
            if not any(decisions):
                raise PermissionDenied(decisions[0].reason)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


# --- forms -------------------------------------------------------------------------------


class RegionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name}（{obj.get_level_display()}，{obj.code}）"


def _region_field(regions, label: str) -> RegionChoiceField:
    return RegionChoiceField(
        queryset=regions,
        label=label,
        empty_label="请选择",
        error_messages={
            "required": "请选择区划",
            "invalid_choice": "请选择您管辖范围内的区划",
        },
    )


def _year_field() -> forms.IntegerField:
    return forms.IntegerField(
        label="年度",
        initial=lambda: timezone.localdate().year,
        error_messages={"required": "请填写年度", "invalid": "年度应为四位数字"},
    )


def _amount_field(label: str, max_digits: int, help_text: str = "") -> forms.DecimalField:
    # Only the shape here; "greater than zero" is the service's rule, shown beside the field.
    return forms.DecimalField(
        label=label,
        max_digits=max_digits,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        error_messages={"required": "请填写金额", "invalid": "请填写数字金额（元）"},
    )


class DepartmentCreateForm(forms.Form):
    name = forms.CharField(
        label="部门名称",
        max_length=100,
        error_messages={"required": "请填写部门名称"},
        widget=forms.TextInput(attrs={"placeholder": "如：大通县医疗保障局"}),
    )
    kind = forms.ChoiceField(
        label="部门类型",
        choices=[("", "请选择"), *DepartmentKind.choices],
        error_messages={"required": "请选择部门类型"},
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"] = _region_field(regions, "辖区")


class DepartmentEditForm(forms.Form):
    name = forms.CharField(
        label="部门名称", max_length=100, error_messages={"required": "请填写部门名称"}
    )
    active = forms.BooleanField(
        label="启用", required=False, help_text="停用后，该部门的接口密钥不能再推送名单。"
    )


class KeyIssueForm(forms.Form):
    name = forms.CharField(
        label="用途",
        max_length=100,
        error_messages={"required": "请填写密钥用途"},
        widget=forms.TextInput(attrs={"placeholder": "如：医保系统每月推送"}),
    )


class ThresholdForm(forms.Form):
    year = _year_field()
    medical_expense_over = _amount_field(
        "合规自付医疗支出预警线（元/户·年）",
        12,
        "如：低收入人口 1 万元、其他人口 2.6 万元，或上年农村居民人均可支配收入的 50%",
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"] = _region_field(regions, "适用区划")
        self.order_fields(["region", "year", "medical_expense_over"])


class MonitoringLineForm(forms.Form):
    year = _year_field()
    amount = _amount_field("人均纯收入监测标准（元/人·年）", 10)
    source = forms.CharField(
        label="依据文件",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "如：青农振〔2026〕12号"}),
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"] = _region_field(regions, "适用区划")
        self.order_fields(["region", "year", "amount", "source"])


def _posted(request):
    """The submitted data of a POST (even an empty one), None for a GET."""
    return request.POST if request.method == "POST" else None


def _status(*forms_shown) -> int:
    """A page re-shown with errors is a 400 (htmx swaps it in place, see base.html)."""
    return 400 if any(form.is_bound and form.errors for form in forms_shown) else 200


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- overview ----------------------------------------------------------------------------


def _measure_categories(user):
    from monitor.pages.measure_categories import measure_categories_managed_by

    return measure_categories_managed_by(user)


@require_http_methods(["GET"])
@manage_page(
    admin.DEPARTMENT_MANAGE,
    admin.THRESHOLD_MANAGE,
    registry.MONITORING_LINE_MANAGE,
    REGION_POLICY_MANAGE,
    INSURANCE_MANAGE,
    "measure_category.manage",
)
def manage_home_page(request):
    areas = [
        (
            admin.DEPARTMENT_MANAGE,
            admin.departments_managed_by,
            "行业部门与接口密钥",
            "登记推送预警名单的行业部门，签发和吊销它们的接口密钥。",
            "department-list-page",
            "个部门",
        ),
        (
            admin.THRESHOLD_MANAGE,
            admin.thresholds_managed_by,
            "筛查阈值",
            "按区划和年度设定数据筛查的合规自付医疗支出预警线。",
            "threshold-list-page",
            "条",
        ),
        (
            registry.MONITORING_LINE_MANAGE,
            admin.monitoring_lines_managed_by,
            "监测范围",
            "按区划和年度设定人均纯收入监测标准及其依据文件。",
            "line-list-page",
            "条",
        ),
        (
            REGION_POLICY_MANAGE,
            region_policies_managed_by,
            "本地时限与规则",
            "按区划和年度设定识别认定、核实、受理时限，最短监测期、消除后跟踪期和抽查比例。",
            "region-policy-list-page",
            "条",
        ),
        (
            INSURANCE_MANAGE,
            insurance_policies_managed_by,
            "防贫保险",
            "按区划和年度登记防贫保险的承保机构、保障对象和理赔触发线，登记参保。",
            "insurance-policy-list-page",
            "份",
        ),
        (
            "measure_category.manage",
            _measure_categories,
            "帮扶措施类别",
            "设定哪些措施类别属于开发式帮扶、哪些可作为因病致险的保障措施。",
            "measure-category-list-page",
            "类",
        ),
    ]
    shown = [
        {
            "title": title,
            "text": text,
            "url": reverse(url_name),
            "count": selector(request.user).count(),
            "unit": unit,
        }
        for action, selector, title, text, url_name, unit in areas
        if policy.allows(request.user, action)
    ]
    return render(request, "administration/home.html", {"areas": shown})


# --- departments -------------------------------------------------------------------------


def _department_regions(user):
    return admin.regions_managed_by(
        user, action=admin.DEPARTMENT_MANAGE, levels=admin.DEPARTMENT_LEVELS
    )


@require_http_methods(["GET", "POST"])
@manage_page(admin.DEPARTMENT_MANAGE)
def department_list_page(request):
    form = DepartmentCreateForm(
        _posted(request),
        initial={"region": request.user.region_id},
        regions=_department_regions(request.user),
    )
    if request.method == "POST" and form.is_valid():
        department = call_service(
            form, admin.department_create, by=request.user, **form.cleaned_data
        )
        if department is not None:
            messages.success(
                request,
                f"已新增行业部门「{department.name}」，接口账号为 {department.account.username}。"
                "请在下方签发接口密钥。",
            )
            return redirect("department-page", pk=department.pk)
    departments = admin.departments_managed_by(request.user)
    return render(
        request,
        "administration/department_list.html",
        {"departments": departments, "form": form},
        status=_status(form),
    )


def _managed_department(request, pk):
    return get_object_or_404(admin.departments_managed_by(request.user), pk=pk)


def _department_detail(request, department, *, form=None, key_form=None):
    form = form or DepartmentEditForm(
        initial={"name": department.name, "active": department.active}
    )
    key_form = key_form or KeyIssueForm()
    return render(
        request,
        "administration/department_detail.html",
        {
            "department": department,
            "form": form,
            "key_form": key_form,
            "tokens": department.account.api_tokens.all(),
        },
        status=_status(form, key_form),
    )


@require_http_methods(["GET", "POST"])
@manage_page(admin.DEPARTMENT_MANAGE)
def department_page(request, pk):
    department = _managed_department(request, pk)
    if request.method == "GET":
        return _department_detail(request, department)
    form = DepartmentEditForm(request.POST)
    if form.is_valid():
        saved = call_service(
            form,
            admin.department_update,
            by=request.user,
            department=department,
            **form.cleaned_data,
        )
        if saved is not None:
            messages.success(request, f"已保存行业部门「{saved.name}」。")
            return redirect("department-page", pk=saved.pk)
    department.refresh_from_db(fields=["name", "active"])
    return _department_detail(request, department, form=form)


@never_cache
@require_POST
@manage_page(admin.DEPARTMENT_MANAGE)
def department_key_issue_page(request, pk):
    """The answer to issuing a key is the only page that ever shows it: rendered, not
    redirected to, so the key is never kept anywhere (session, message, log) to be shown
    again; `never_cache` keeps it out of caches."""
    department = _managed_department(request, pk)
    key_form = KeyIssueForm(request.POST)
    if key_form.is_valid():
        issued = call_service(
            key_form,
            admin.department_key_issue,
            by=request.user,
            department=department,
            name=key_form.cleaned_data["name"],
        )
        if issued is not None:
            token, raw_key = issued
            return render(
                request,
                "administration/department_key_issued.html",
                {"department": department, "token": token, "raw_key": raw_key},
            )
    return _department_detail(request, department, key_form=key_form)


@require_http_methods(["GET", "POST"])
@manage_page(admin.DEPARTMENT_MANAGE)
def department_key_revoke_page(request, pk, key_pk):
    department = _managed_department(request, pk)
    token = get_object_or_404(department.account.api_tokens.all(), pk=key_pk)
    form = forms.Form(_posted(request))
    if request.method == "POST":
        revoked = call_service(
            form, admin.department_key_revoke, by=request.user, department=department, token=token
        )
        if revoked is not None:
            messages.success(request, f"已吊销密钥 {revoked.prefix}…（{revoked.name}）。")
            return redirect("department-page", pk=department.pk)
    return render(
        request,
        "administration/confirm.html",
        {
            "form": form,
            "title": "吊销接口密钥",
            "crumbs": [
                (reverse("department-list-page"), "行业部门"),
                (reverse("department-page", args=[department.pk]), department.name),
            ],
            "question": f"确定吊销「{department.name}」的密钥 {token.prefix}…（{token.name}）吗？",
            "consequence": "吊销后，使用该密钥的接口调用将立即被拒绝，且不能恢复；如需继续推送，"
            "请另行签发新密钥。",
            "button": "确认吊销",
            "cancel_url": reverse("department-page", args=[department.pk]),
            "done": token.revoked_at is not None,
        },
        status=_status(form),
    )


# --- screening thresholds and monitoring lines -------------------------------------------
# Two record kinds set by region and year, with the same pages: a list with the create
# form, a page to change one, a page to confirm its deletion.


@dataclass(frozen=True)
class Yearly:
    key: str  # url names: <key>-list-page, <key>-page, <key>-delete-page
    title: str
    action: str
    form_class: type[forms.Form]
    selector: Callable
    save: Callable
    delete: Callable
    obj_arg: str  # the service's keyword for the record

    def regions(self, user):
        return admin.regions_managed_by(user, action=self.action, levels=admin.YEARLY_LEVELS)

    def initial(self, record) -> dict:
        fields = self.form_class.base_fields
        return {"region": record.region_id, **{name: getattr(record, name) for name in fields}}

    def context(self, **extra) -> dict:
        return {
            "title": self.title,
            "list_url": reverse(f"{self.key}-list-page"),
            **extra,
        }


THRESHOLDS = Yearly(
    key="threshold",
    title="筛查阈值",
    action=admin.THRESHOLD_MANAGE,
    form_class=ThresholdForm,
    selector=admin.thresholds_managed_by,
    save=admin.threshold_save,
    delete=admin.threshold_delete,
    obj_arg="threshold",
)
LINES = Yearly(
    key="line",
    title="监测范围",
    action=registry.MONITORING_LINE_MANAGE,
    form_class=MonitoringLineForm,
    selector=admin.monitoring_lines_managed_by,
    save=registry.monitoring_line_save,
    delete=registry.monitoring_line_delete,
    obj_arg="line",
)


def _yearly_list(request, kind: Yearly):
    form = kind.form_class(
        _posted(request),
        initial={"region": request.user.region_id},
        regions=kind.regions(request.user),
    )
    if request.method == "POST" and form.is_valid():
        record = call_service(form, kind.save, by=request.user, **form.cleaned_data)
        if record is not None:
            messages.success(
                request, f"已新增{kind.title}：{record.region.name} {record.year} 年度。"
            )
            return redirect(f"{kind.key}-list-page")
    return render(
        request,
        f"administration/{kind.key}_list.html",
        kind.context(page=_page(request, kind.selector(request.user)), form=form),
        status=_status(form),
    )


def _yearly_detail(request, kind: Yearly, pk):
    record = get_object_or_404(kind.selector(request.user), pk=pk)
    regions = kind.regions(request.user)
    if request.method == "GET":
        form = kind.form_class(initial=kind.initial(record), regions=regions)
    else:
        form = kind.form_class(request.POST, regions=regions)
        if form.is_valid():
            saved = call_service(
                form, kind.save, by=request.user, **{kind.obj_arg: record}, **form.cleaned_data
            )
            if saved is not None:
                messages.success(
                    request, f"已保存{kind.title}：{saved.region.name} {saved.year} 年度。"
                )
                return redirect(f"{kind.key}-list-page")
    return render(
        request,
        "administration/yearly_detail.html",
        kind.context(
            record=record,
            form=form,
            delete_url=reverse(f"{kind.key}-delete-page", args=[record.pk]),
        ),
        status=_status(form),
    )


def _yearly_delete(request, kind: Yearly, pk):
    record = get_object_or_404(kind.selector(request.user), pk=pk)
    form = forms.Form(_posted(request))
    label = f"{record.region.name} {record.year} 年度"
    if request.method == "POST":
        call_service(form, kind.delete, by=request.user, **{kind.obj_arg: record})
        if not form.errors:
            messages.success(request, f"已删除{kind.title}：{label}。")
            return redirect(f"{kind.key}-list-page")
    return render(
        request,
        "administration/confirm.html",
        {
            "form": form,
            "title": f"删除{kind.title}",
            "crumbs": [
                (reverse(f"{kind.key}-list-page"), kind.title),
                (reverse(f"{kind.key}-page", args=[record.pk]), label),
            ],
            "question": f"确定删除{kind.title}「{label}」吗？",
            "consequence": "删除后，该区划该年度将改用上级区划的设定（如有）。",
            "button": "确认删除",
            "cancel_url": reverse(f"{kind.key}-page", args=[record.pk]),
        },
        status=_status(form),
    )


@require_http_methods(["GET", "POST"])
@manage_page(admin.THRESHOLD_MANAGE)
def threshold_list_page(request):
    return _yearly_list(request, THRESHOLDS)


@require_http_methods(["GET", "POST"])
@manage_page(admin.THRESHOLD_MANAGE)
def threshold_page(request, pk):
    return _yearly_detail(request, THRESHOLDS, pk)


@require_http_methods(["GET", "POST"])
@manage_page(admin.THRESHOLD_MANAGE)
def threshold_delete_page(request, pk):
    return _yearly_delete(request, THRESHOLDS, pk)


@require_http_methods(["GET", "POST"])
@manage_page(registry.MONITORING_LINE_MANAGE)
def line_list_page(request):
    return _yearly_list(request, LINES)


@require_http_methods(["GET", "POST"])
@manage_page(registry.MONITORING_LINE_MANAGE)
def line_page(request, pk):
    return _yearly_detail(request, LINES, pk)


@require_http_methods(["GET", "POST"])
@manage_page(registry.MONITORING_LINE_MANAGE)
def line_delete_page(request, pk):
    return _yearly_delete(request, LINES, pk)
