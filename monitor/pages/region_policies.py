"""管理 › 本地时限与规则: a region's own clocks and settings by year (RegionPolicy), kept
like the monitoring lines — county approvers for their county, the administrator anywhere
(`region_policy.manage`). Each page shows the values in force and where each comes from:
the installation default or the region whose policy sets it."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import policy
from config.pages import call_service
from households.choices import RegionLevel
from households.models import Region
from monitor import administration as admin
from monitor import regional
from monitor.pages.administration import (
    _page,
    _posted,
    _region_field,
    _status,
    _year_field,
    manage_page,
)

# Counties set their own clocks; a province or city sets them for all below, a township
# for itself.
POLICY_LEVELS = (RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP)
# The clue rules are the county's (monitor.regional.COUNTY_RULES): said beside the fields, and
# a township's value is refused on the field by the service.
COUNTY_ONLY = "；仅县级及以上设定，乡镇不设"
DISPATCH_CHOICES = [("", "沿用上级或系统默认"), ("True", "自动下发到村"), ("False", "由县级下发")]


def _flag(value: str):
    return {"True": True, "False": False}.get(value)


class RegionPolicyForm(forms.Form):
    year = _year_field()
    source = forms.CharField(
        label="依据文件",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "如：大通县乡村振兴局〔2026〕3号"}),
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"] = _region_field(regions, "适用区划")
        for name, (label, unit, low, high) in regional.NUMBER_FIELDS.items():
            default = settings.MONITOR[regional.DEFAULTS[name]]
            # Shape only: the range is the service's rule, shown beside the field.
            self.fields[name] = forms.IntegerField(
                label=f"{label}（{unit}）",
                required=False,
                help_text=f"{low}–{high}；留空沿用上级区划或系统默认（{default}）"
                + (COUNTY_ONLY if name in regional.COUNTY_RULES else ""),
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
                error_messages={"invalid": "请填写整数"},
            )
        for name, label in regional.FLAG_FIELDS.items():
            self.fields[name] = forms.TypedChoiceField(
                label=label,
                choices=DISPATCH_CHOICES,
                coerce=_flag,
                empty_value=None,
                required=False,
                help_text=COUNTY_ONLY.removeprefix("；"),
            )
        self.order_fields(["region", "year", *regional.POLICY_FIELDS, "source"])


def _regions(user):
    return admin.regions_managed_by(
        user, action=regional.REGION_POLICY_MANAGE, levels=POLICY_LEVELS
    )


def _initial(record) -> dict:
    return {
        "region": record.region_id,
        "year": record.year,
        "source": record.source,
        **{name: getattr(record, name) for name in regional.POLICY_FIELDS},
    }


def _effective(request, default_code: str | None):
    """The region and year whose values in force the page shows (?region=&year=), inside
    what the user manages; an unknown or foreign code shows nothing and says so."""
    code = (request.GET.get("region") or default_code or "").strip()
    year_text = request.GET.get("year") or ""
    year = int(year_text) if year_text.isascii() and year_text.isdigit() else None
    year = year if year and 2000 <= year <= 2100 else timezone.localdate().year
    if not code:
        return {"year": year, "code": "", "rows": None, "region": None}
    prefix = policy.scope_prefix(request.user, regional.REGION_POLICY_MANAGE)
    region = Region.objects.filter(code=code).first() if len(code) == 12 else None
    if region is None or prefix is None or not code.startswith(prefix):
        return {"year": year, "code": code, "rows": None, "region": None, "unknown": True}
    return {
        "year": year,
        "code": code,
        "region": region,
        "rows": regional.local_rules_explained(code, year),
    }


@require_http_methods(["GET", "POST"])
@manage_page(regional.REGION_POLICY_MANAGE)
def region_policy_list_page(request):
    form = RegionPolicyForm(
        _posted(request),
        initial={"region": request.user.region_id},
        regions=_regions(request.user),
    )
    if request.method == "POST" and form.is_valid():
        record = call_service(
            form, regional.region_policy_save, by=request.user, **form.cleaned_data
        )
        if record is not None:
            messages.success(
                request, f"已新增本地时限与规则：{record.region.name} {record.year} 年度。"
            )
            return redirect("region-policy-list-page")
    return render(
        request,
        "administration/region_policy_list.html",
        {
            "page": _page(request, regional.region_policies_managed_by(request.user)),
            "form": form,
            "effective": _effective(request, request.user.region_id),
            "fields": [(name, regional.NUMBER_FIELDS[name][0]) for name in regional.NUMBER_FIELDS],
        },
        status=_status(form),
    )


@require_http_methods(["GET", "POST"])
@manage_page(regional.REGION_POLICY_MANAGE)
def region_policy_page(request, pk):
    record = get_object_or_404(regional.region_policies_managed_by(request.user), pk=pk)
    regions = _regions(request.user)
    if request.method == "GET":
        form = RegionPolicyForm(initial=_initial(record), regions=regions)
    else:
        form = RegionPolicyForm(request.POST, regions=regions)
        if form.is_valid():
            saved = call_service(
                form,
                regional.region_policy_save,
                by=request.user,
                region_policy=record,
                **form.cleaned_data,
            )
            if saved is not None:
                messages.success(
                    request, f"已保存本地时限与规则：{saved.region.name} {saved.year} 年度。"
                )
                return redirect("region-policy-page", pk=saved.pk)
    return render(
        request,
        "administration/region_policy_detail.html",
        {
            "record": record,
            "form": form,
            "rows": regional.local_rules_explained(record.region_id, record.year),
            "delete_url": reverse("region-policy-delete-page", args=[record.pk]),
            "list_url": reverse("region-policy-list-page"),
        },
        status=_status(form),
    )


@require_http_methods(["GET", "POST"])
@manage_page(regional.REGION_POLICY_MANAGE)
def region_policy_delete_page(request, pk):
    record = get_object_or_404(regional.region_policies_managed_by(request.user), pk=pk)
    form = forms.Form(_posted(request))
    label = f"{record.region.name} {record.year} 年度"
    if request.method == "POST":
        call_service(form, regional.region_policy_delete, by=request.user, region_policy=record)
        if not form.errors:
            messages.success(request, f"已删除本地时限与规则：{label}。")
            return redirect("region-policy-list-page")
    return render(
        request,
        "administration/confirm.html",
        {
            "form": form,
            "title": "删除本地时限与规则",
            "crumbs": [
                (reverse("region-policy-list-page"), "本地时限与规则"),
                (reverse("region-policy-page", args=[record.pk]), label),
            ],
            "question": f"确定删除本地时限与规则「{label}」吗？",
            "consequence": "删除后，该区划该年度的时限与规则将改用上级区划的设定或系统默认；"
            "已生成的办理时限不变，此后登记的案例按新的规则计时。",
            "button": "确认删除",
            "cancel_url": reverse("region-policy-page", args=[record.pk]),
        },
        status=_status(form),
    )
