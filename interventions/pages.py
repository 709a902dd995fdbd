"""防贫保险 pages: the county's policies under 管理 (list, new, edit, enrol all), and on the
household page its enrolments and claims, with the forms to enrol it, record a claim and
record a payment.

Guards are the policy's: `insurance.manage` for the administration pages (county approver
in the county, administrator anywhere), `insurance.enrol` (village, township and county
staff) and `insurance.claim` (township and county) for the household's forms. Every record
is looked up in the user's scope first (elsewhere: 404), every POST calls one service of
interventions/insurance.py."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts import policy
from config.pages import call_service, people_page
from households.selectors import households_for
from interventions import insurance
from interventions.models import InsuranceCoverage
from monitor import administration as admin
from monitor.forms import ChineseForm
from monitor.pages.administration import (
    _amount_field,
    _page,
    _posted,
    _region_field,
    _status,
    _year_field,
    manage_page,
)

# --- forms -------------------------------------------------------------------------------------


class InsurancePolicyForm(forms.Form):
    year = _year_field()
    insurer = forms.CharField(
        label="承保机构",
        max_length=100,
        error_messages={"required": "请填写承保机构"},
        widget=forms.TextInput(attrs={"placeholder": "如：中国人民财产保险股份有限公司大通支公司"}),
    )
    coverage = forms.ChoiceField(
        label="保障对象",
        choices=[("", "请选择"), *InsuranceCoverage.choices],
        error_messages={"required": "请选择保障对象"},
    )
    trigger_line = _amount_field(
        "理赔触发线（人均纯收入，元/人·年）",
        10,
        "家庭人均纯收入低于此线（或因病因灾支出后低于此线）时启动理赔",
    )
    premium_per_person = forms.DecimalField(
        label="保费（元/人·年）",
        max_digits=10,
        decimal_places=2,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        error_messages={"invalid": "请填写数字金额（元）"},
    )
    note = forms.CharField(label="说明", max_length=300, required=False)

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"] = _region_field(regions, "投保区划")
        self.order_fields(
            ["region", "year", "insurer", "coverage", "trigger_line", "premium_per_person", "note"]
        )


class EnrolAllForm(ChineseForm):
    enrolled_on = forms.DateField(label="参保日期", required=False, help_text="不填为今天")


class EnrolForm(ChineseForm):
    policy = forms.ModelChoiceField(label="防贫保险", queryset=None, empty_label="请选择")
    enrolled_on = forms.DateField(label="参保日期", required=False, help_text="不填为今天")

    def __init__(self, *args, policies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = policies
        self.fields["policy"].label_from_instance = lambda p: (
            f"{p.year}年 {p.insurer}（{p.get_coverage_display()}）"
        )


class ClaimForm(ChineseForm):
    enrolment = forms.ModelChoiceField(label="参保记录", queryset=None, empty_label="请选择")
    claimed_on = forms.DateField(label="报案日期")
    reason = forms.CharField(label="理赔原因", max_length=300)
    amount_paid = forms.DecimalField(
        label="赔付金额（元）",
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="已赔付的填写金额和日期；未赔付的两项都不填，赔付后再登记",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    paid_on = forms.DateField(label="赔付日期", required=False)

    def __init__(self, *args, enrolments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enrolment"].queryset = enrolments
        self.fields["enrolment"].label_from_instance = lambda e: (
            f"{e.policy.year}年 {e.policy.insurer}"
        )
        self.fields["amount_paid"].error_messages["invalid"] = "请填写数字金额（元）"


class PayForm(ChineseForm):
    amount_paid = forms.DecimalField(
        label="赔付金额（元）",
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    paid_on = forms.DateField(label="赔付日期")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount_paid"].error_messages["invalid"] = "请填写数字金额（元）"


# --- administration: the county's policies ----------------------------------------------------


def _policy_regions(user):
    return admin.regions_managed_by(
        user, action=insurance.INSURANCE_MANAGE, levels=insurance.POLICY_LEVELS
    )


def _saved_fields(data: dict) -> dict:
    return {
        "region": data["region"],
        "year": data["year"],
        "insurer": data["insurer"],
        "coverage": data["coverage"],
        "trigger_line": data["trigger_line"],
        "premium_per_person": data.get("premium_per_person"),
        "note": data.get("note") or "",
    }


@require_http_methods(["GET", "POST"])
@manage_page(insurance.INSURANCE_MANAGE)
def insurance_policy_list_page(request):
    form = InsurancePolicyForm(
        _posted(request),
        initial={"region": request.user.region_id},
        regions=_policy_regions(request.user),
    )
    if request.method == "POST" and form.is_valid():
        record = call_service(
            form,
            insurance.insurance_policy_save,
            by=request.user,
            **_saved_fields(form.cleaned_data),
        )
        if record is not None:
            messages.success(
                request,
                f"已新增防贫保险：{record.region.name} {record.year} 年度 {record.insurer}。",
            )
            return redirect("insurance-policy-page", pk=record.pk)
    return render(
        request,
        "administration/insurance_list.html",
        {
            "page": _page(request, insurance.insurance_policies_managed_by(request.user)),
            "form": form,
        },
        status=_status(form),
    )


def _policy_detail(request, record, *, form=None, enrol_form=None):
    form = form or InsurancePolicyForm(
        initial={
            "region": record.region_id,
            "year": record.year,
            "insurer": record.insurer,
            "coverage": record.coverage,
            "trigger_line": record.trigger_line,
            "premium_per_person": record.premium_per_person,
            "note": record.note,
        },
        regions=_policy_regions(request.user),
    )
    claims = insurance.claims_for(request.user).filter(enrolment__policy=record)
    return render(
        request,
        "administration/insurance_detail.html",
        {
            "record": record,
            "form": form,
            "enrol_form": enrol_form or EnrolAllForm(),
            "claims": claims.order_by("-claimed_on", "-id")[:20],
            "list_url": reverse("insurance-policy-list-page"),
        },
        status=_status(form, *(f for f in [enrol_form] if f is not None)),
    )


@require_http_methods(["GET", "POST"])
@manage_page(insurance.INSURANCE_MANAGE)
def insurance_policy_page(request, pk):
    record = get_object_or_404(insurance.insurance_policies_managed_by(request.user), pk=pk)
    if request.method == "GET":
        return _policy_detail(request, record)
    form = InsurancePolicyForm(request.POST, regions=_policy_regions(request.user))
    if form.is_valid():
        saved = call_service(
            form,
            insurance.insurance_policy_save,
            by=request.user,
            insurance_policy=record,
            **_saved_fields(form.cleaned_data),
        )
        if saved is not None:
            messages.success(request, f"已保存防贫保险：{saved.region.name} {saved.year} 年度。")
            return redirect("insurance-policy-page", pk=saved.pk)
    return _policy_detail(request, record, form=form)


@require_POST
@manage_page(insurance.INSURANCE_MANAGE)
def insurance_policy_enrol_page(request, pk):
    """全部参保: every household of the policy's region inside the user's region that its
    coverage names, in one statement (a second run adds only those not yet enrolled)."""
    record = get_object_or_404(insurance.insurance_policies_managed_by(request.user), pk=pk)
    # The page offers the button to staff with people duties only (the administrator keeps
    # policies anywhere but enrols nobody): anyone else is told so, not shown a form error.
    decision = policy.decide(request.user, insurance.INSURANCE_ENROL)
    if not decision:
        raise PermissionDenied(decision.reason)
    form = EnrolAllForm(request.POST)
    if form.is_valid():
        added = call_service(
            form,
            insurance.insurance_enrol,
            policy=record,
            by=request.user,
            enrolled_on=form.cleaned_data.get("enrolled_on"),
        )
        if added is not None:
            messages.success(request, f"已登记参保 {added} 户（已参保的户不重复登记）。")
            return redirect("insurance-policy-page", pk=record.pk)
    return _policy_detail(request, record, enrol_form=form)


# --- the household's enrolments and claims -----------------------------------------------------


def _household(user, pk: int):
    return get_object_or_404(households_for(user).select_related("village__parent"), pk=pk)


def _open_to(user, action: str, household) -> None:
    decision = policy.decide(user, action, household)
    if not decision:
        raise PermissionDenied(decision.reason)


def _available_policies(household):
    return (
        insurance.policies_covering(household)
        .exclude(enrolments__household=household)
        .order_by("-year", "insurer")
    )


def _enrolments(household):
    return household.insurance_enrolments.select_related("policy").order_by("-policy__year", "id")


def household_insurance_context(user, household, data: dict) -> dict:
    """The household page's block of 防贫保险: enrolments and claims (`data`,
    household_insurance()'s answer, read once for the block and the timeline), and the forms
    the policy allows this user (enrol: staff of the region; claim and pay: township and
    county)."""
    can_enrol = policy.allows(user, insurance.INSURANCE_ENROL, household)
    can_claim = policy.allows(user, insurance.INSURANCE_CLAIM, household)
    available = _available_policies(household) if can_enrol else None
    return {
        "insurance": {
            **data,
            "enrol_form": EnrolForm(prefix="enrol", policies=available)
            if available is not None and available.exists()
            else None,
            "claim_form": ClaimForm(
                prefix="claim",
                enrolments=_enrolments(household),
                initial={"claimed_on": timezone.localdate()},
            )
            if can_claim and data["enrolments"]
            else None,
            "can_pay": can_claim,
        }
    }


def _form_page(
    request, household, form, *, title: str, action_url: str, submit: str, status=200, notice=""
):
    return render(
        request,
        "households/insurance_form.html",
        {
            "household": household,
            "form": form,
            "title": title,
            "action_url": action_url,
            "submit": submit,
            "notice": notice,
        },
        status=status,
    )


@people_page
@require_http_methods(["GET", "POST"])
def household_insurance_enrol_page(request, pk: int):
    household = _household(request.user, pk)
    _open_to(request.user, insurance.INSURANCE_ENROL, household)
    form = EnrolForm(_posted(request), prefix="enrol", policies=_available_policies(household))
    if request.method == "POST" and form.is_valid():
        added = call_service(
            form,
            insurance.insurance_enrol,
            policy=form.cleaned_data["policy"],
            by=request.user,
            household=household,
            enrolled_on=form.cleaned_data.get("enrolled_on"),
        )
        if added is not None:
            messages.success(request, "已登记参保。")
            return redirect("household-page", household.pk)
    return _form_page(
        request,
        household,
        form,
        title="登记防贫保险参保",
        action_url=reverse("household-insurance-enrol-page", args=[household.pk]),
        submit="登记参保",
        status=400 if form.errors else 200,
    )


@people_page
@require_http_methods(["GET", "POST"])
def household_insurance_claim_page(request, pk: int):
    household = _household(request.user, pk)
    _open_to(request.user, insurance.INSURANCE_CLAIM, household)
    form = ClaimForm(
        _posted(request),
        prefix="claim",
        enrolments=_enrolments(household),
        initial={"claimed_on": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        claim = call_service(
            form, insurance.insurance_claim_record, by=request.user, **form.cleaned_data
        )
        if claim is not None:
            messages.success(request, "已登记防贫保险理赔。")
            return redirect("household-page", household.pk)
    return _form_page(
        request,
        household,
        form,
        title="登记防贫保险理赔",
        action_url=reverse("household-insurance-claim-page", args=[household.pk]),
        submit="登记理赔",
        status=400 if form.errors else 200,
    )


@people_page
@require_http_methods(["GET", "POST"])
def insurance_claim_pay_page(request, pk: int):
    claim = get_object_or_404(insurance.claims_for(request.user), pk=pk)
    household = claim.enrolment.household
    _open_to(request.user, insurance.INSURANCE_CLAIM, household)
    form = PayForm(_posted(request), initial={"paid_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        paid = call_service(
            form, insurance.insurance_claim_pay, claim=claim, by=request.user, **form.cleaned_data
        )
        if paid is not None:
            messages.success(request, f"已登记赔付 {paid.amount_paid:,.2f} 元。")
            return redirect("household-page", household.pk)
    return _form_page(
        request,
        household,
        form,
        title=f"登记赔付：{claim.claimed_on:%Y-%m-%d} {claim.reason}",
        action_url=reverse("insurance-claim-pay-page", args=[claim.pk]),
        submit="登记赔付",
        status=400 if form.errors else 200,
        notice=f"该理赔已于 {claim.paid_on:%Y-%m-%d} 赔付 {claim.amount_paid:,.2f} 元。"
        if claim.paid_on
        else "",
    )
