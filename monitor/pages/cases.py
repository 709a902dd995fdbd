"""Case pages: the list, filing (from scratch or from a household), the case with its
guided evidence and workflow buttons, aid (一户一策 and measures) and clearance.

Every page starts from `cases_for(user)` (the region scope: another region's case is a
404), every button is the policy's answer, and every POST calls one service."""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import policy
from config.pages import call_service, newest, people_page, safe_next
from households.models import Member
from households.pii import PiiDecryptError
from households.selectors import households_for
from interventions.models import MeasureRecord
from interventions.services import aid_plan_save, measure_record_create, measure_record_update
from monitor import identification, services
from monitor.choices import (
    MONITORED_STATUSES,
    Category,
    ClearanceKind,
    Stage,
    Status,
    VisitKind,
    VisitLevel,
)
from monitor.feeds.selectors import case_warnings
from monitor.forms import (
    AidPlanForm,
    AppraisalForm,
    CaseFileForm,
    ConsentForm,
    CrossCheckForm,
    HomeVisitForm,
    MeasureForm,
    MeasureProgressForm,
    MonthlyVisitForm,
    NoticeForm,
    PlannedItemForm,
    TransitionForm,
)
from monitor.pages.adjustments import adjustment_context
from monitor.pages.follow_up import follow_up_context
from monitor.pages.identification import identification_context
from monitor.rules import clearance_checks, report_checks
from monitor.selectors import cases_for
from monitor.workflow import STEPS, allowed_actions, case_transition

# The steps of the clearance procedure (their refusals are shown on the clearance page).
CLEARANCE_STEPS = {step.action for step in STEPS if step.action.endswith("clearance")}
logger = logging.getLogger(__name__)
PAGE_SIZE = 30
PLANNED_ROWS = 6
MAX_PLANNED_ROWS = 50

# Evidence of a stage, in the order the village does it: (kind, title, form, service).
EVIDENCE = {
    "home_visit": ("入户核实", HomeVisitForm, services.home_visit_record, "homevisits"),
    "consent": ("承诺授权", ConsentForm, services.consent_record, "consents"),
    "cross_check": ("信息比对", CrossCheckForm, identification.cross_check_record, "crosschecks"),
    "appraisal": ("民主评议", AppraisalForm, services.appraisal_record, "appraisals"),
    "notice": ("公示", NoticeForm, services.notice_record, "publicnotices"),
}
STAGE_EVIDENCE = {
    Stage.IDENTIFICATION: ["home_visit", "consent", "cross_check", "appraisal", "notice"],
    Stage.CLEARANCE: ["home_visit", "appraisal", "notice"],
}
# Steps whose preconditions are a checklist: the button appears once nothing is missing.
CHECKED_STEPS = {
    "report": report_checks,
    "propose_clearance": clearance_checks,
    "township_approve_clearance": clearance_checks,
    "county_approve_clearance": clearance_checks,
}


def _case(user, pk: int):
    today = timezone.localdate()
    return get_object_or_404(
        cases_for(user, today).select_related("household__village__parent"), pk=pk
    )


# --- list ------------------------------------------------------------------------------


@people_page
def case_list_page(request):
    today = timezone.localdate()
    cases = cases_for(request.user, today)
    status = request.GET.get("status", "")
    category = request.GET.get("category", "")
    overdue = request.GET.get("overdue") == "1"
    if status in Status.values:
        cases = cases.filter(status=status)
    if category in Category.values:
        cases = cases.filter(category=category)
    if overdue:
        cases = cases.filter(is_overdue=True)
    cases = cases.order_by("-is_overdue", "-found_on", "-id")
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cases/case_list.html",
        {
            "page": page,
            "statuses": Status.choices,
            "categories": Category.choices,
            "status": status,
            "category": category,
            "overdue": overdue,
            "query": query.urlencode(),
            "today": today,
        },
    )


# --- filing ----------------------------------------------------------------------------


@people_page
def case_new_page(request):
    """登记监测对象 for a household of the user's region (chosen on the household page)."""
    # ASCII digits only: str.isdigit() is also true for "²", which the lookup's int() refuses
    # (a 500), and for "١", which int() reads as 1.
    wanted = request.GET.get("household") or ""
    household = get_object_or_404(
        households_for(request.user), pk=int(wanted) if wanted.isascii() and wanted.isdigit() else 0
    )
    decision = policy.decide(request.user, "case.file", household)
    if not decision:
        messages.error(request, decision.reason)
        return redirect("household-page", household.pk)
    form = CaseFileForm(request.POST or None, initial={"found_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        case = call_service(
            form,
            services.case_create,
            household=household,
            by=request.user,
            category=data["category"],
            channel=data["channel"],
            risk_codes=data["risk_codes"],
            found_on=data["found_on"],
            description=data["description"],
            green_channel=data["green_channel"],
            main_risk=data["main_risk"] or None,
        )
        if case is not None:
            messages.success(request, "已登记监测对象，请按步骤完成入户核实等程序。")
            return redirect("case-page", case.pk)
    status = 400 if form.errors else 200
    return render(
        request, "cases/case_new.html", {"form": form, "household": household}, status=status
    )


@people_page
def case_edit_page(request, pk: int):
    """Correct the facts of a case while the village still holds it (村级核实中)."""
    case = _case(request.user, pk)
    decision = policy.decide(request.user, "case.edit", case)
    if not decision:
        # Said on the page (the state or the role decides, and both can change).
        return render(
            request,
            "cases/case_edit.html",
            {"case": case, "refusal": decision.reason},
            status=403 if request.method == "POST" else 200,
        )
    initial = {
        "category": case.category,
        "risk_codes": case.risk_codes,
        "main_risk": case.main_risk,
        "found_on": case.found_on,
        "channel": case.channel,
        "description": case.description,
        "green_channel": case.green_channel,
    }
    form = CaseFileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        saved = call_service(
            form,
            services.case_update,
            case=case,
            by=request.user,
            risk_codes=data.pop("risk_codes"),
            **data,
        )
        if saved is not None:
            messages.success(request, "案例信息已更正。")
            return redirect("case-page", case.pk)
    return render(
        request,
        "cases/case_edit.html",
        {"form": form, "case": case},
        status=400 if form.errors else 200,
    )


# --- the case --------------------------------------------------------------------------


def _evidence_blocks(case, stage: str, user, bound: dict):
    """The guided sequence of a stage: each step's records, whether it is done, its form."""
    action = services.EVIDENCE_ACTION[stage]
    can_record = policy.allows(user, action, case)
    blocks = []
    for kind in STAGE_EVIDENCE[stage]:
        title, form_class, _, related = EVIDENCE[kind]
        rows = getattr(case, related).all()
        if kind == "cross_check":
            rows = rows.prefetch_related("findings__item")
        records = [r for r in rows if r.stage == stage]
        if kind == "home_visit":
            # The village's own step; township and county visits are shown apart.
            records = [r for r in records if r.level == VisitLevel.VILLAGE]
        form = bound.get(kind) or (form_class(prefix=kind) if can_record else None)
        blocks.append({"kind": kind, "title": title, "records": records, "form": form})
    return blocks


def _step_forms(case, user, today, bound: dict, kind: str | None = None):
    """The steps this user may take now, the forward ones first (returns, rejections and
    withdrawals, which need a reason, after them). `kind` is the clearance kind the
    clearance page shows (its proposal's checklist is of that kind)."""
    steps = []
    for step in sorted(allowed_actions(case, user), key=lambda step: step.needs_reason):
        checks = CHECKED_STEPS.get(step.action)
        if step.action == "propose_clearance":
            checklist = clearance_checks(case, today, kind)
        else:
            checklist = checks(case, today) if checks else []
        ready = all(check.met for check in checklist)
        members = _members(case) if step.action == "propose_clearance" else ()
        form = bound.get(step.action) or TransitionForm(
            initial={"action": step.action, "clearance_kind": kind}, members=members
        )
        steps.append({"step": step, "checklist": checklist, "ready": ready, "form": form})
    return steps


CASE_WARNINGS_SHOWN = 20


def _case_context(request, case, bound=None):
    bound = bound or {}
    today = timezone.localdate()
    user = request.user
    context = {
        "case": case,
        "today": today,
        "steps": _step_forms(case, user, today, bound),
        "trail": case.transitions.select_related("actor"),
        "measures": case.measures.select_related("category"),
        "monthly_visits": case.monthly_visits.filter(kind=VisitKind.MONTHLY)[:12],
        "monthly_form": bound.get("monthly_visit")
        or (
            MonthlyVisitForm(prefix="monthly")
            if policy.allows(user, "case.monthly_visit", case)
            else None
        ),
    }
    # 部门预警信息: department list rows that hit the household while the case was open —
    # the newest CASE_WARNINGS_SHOWN (one more read, to know whether there are others),
    # all with ?warnings=all: a household on every month's list gathers them without end.
    context["warnings"], context["warnings_cut"] = newest(
        case_warnings(case), CASE_WARNINGS_SHOWN, request.GET.get("warnings") == "all"
    )
    context["warnings_shown"] = CASE_WARNINGS_SHOWN
    context.update(identification_context(user, case, bound))
    context.update(follow_up_context(case, user, bound))
    context.update(adjustment_context(request, case, bound))
    if case.status == Status.DRAFT:
        context["evidence"] = _evidence_blocks(case, Stage.IDENTIFICATION, user, bound)
        context["report_checks"] = report_checks(case, today)
    elif case.status in (Status.REPORTED, Status.TOWNSHIP_APPROVED):
        context["evidence"] = _evidence_blocks(case, Stage.IDENTIFICATION, user, {})
    return context


def _render_case(request, case, bound=None, status=200):
    return render(
        request, "cases/case_page.html", _case_context(request, case, bound), status=status
    )


@people_page
def case_page(request, pk: int):
    return _render_case(request, _case(request.user, pk))


@people_page
@require_POST
def case_transition_page(request, pk: int):
    case = _case(request.user, pk)
    form = TransitionForm(request.POST, members=_members(case))
    if form.is_valid():
        data = form.cleaned_data
        extra = {"clearance_kind": data["clearance_kind"]} if data["clearance_kind"] else {}
        extra.update(form.natural_data())
        moved = call_service(
            form,
            case_transition,
            case_id=case.pk,
            action=data["action"],
            by=request.user,
            comment=data["comment"],
            **extra,
        )
        if moved is not None:
            messages.success(request, f"已办理：{moved.get_status_display()}")
            return redirect(safe_next(request) or reverse("case-page", args=[case.pk]))
    case, bound = _case(request.user, pk), {form.data.get("action"): form}
    _say_unshown_step_errors(request, case, form)
    if form.data.get("action") in CLEARANCE_STEPS:
        kind = form.data.get("clearance_kind")
        return _render_clearance(request, case, bound, status=400, kind=kind)
    return _render_case(request, case, bound, status=400)


def _say_unshown_step_errors(request, case, form) -> None:
    """The page shows a step's form, and its errors, only for a step offered now and ready
    (_step_forms). A refusal of anything else — no action, an unknown one, a step not this
    user's or not ready — came back as a 400 page without a word: say it at the top."""
    steps = _step_forms(case, request.user, timezone.localdate(), {})
    shown = {item["step"].action for item in steps if item["ready"]}
    if form.data.get("action") in shown:
        return
    labels = {
        "comment": "意见或理由：",
        "clearance_kind": "风险消除方式：",
        "natural_reason": "自然消除原因：",
        "natural_member_id": "致险成员：",
        "natural_evidence": "自然消除依据：",
    }
    for name, errors in form.errors.items():
        if name == "action":
            messages.error(request, "请选择要办理的操作")
            continue
        for error in errors:
            messages.error(request, f"{labels.get(name, '')}{error}")


@people_page
@require_POST
def case_evidence_page(request, pk: int, stage: str, kind: str):
    case = _case(request.user, pk)
    if stage not in STAGE_EVIDENCE or kind not in STAGE_EVIDENCE[stage]:
        return redirect("case-page", case.pk)
    title, form_class, service, _ = EVIDENCE[kind]
    form = form_class(request.POST, request.FILES, prefix=kind)
    if form.is_valid():
        record = call_service(
            form, service, case=case, by=request.user, stage=stage, **form.cleaned_data
        )
        if record is not None:
            messages.success(request, f"已登记{title}。")
            target = "case-clearance-page" if stage == Stage.CLEARANCE else "case-page"
            return redirect(target, case.pk)
    case = _case(request.user, pk)
    if stage == Stage.CLEARANCE:
        return _render_clearance(request, case, {kind: form}, status=400)
    return _render_case(request, case, {kind: form}, status=400)


@people_page
@require_POST
def case_monthly_visit_page(request, pk: int):
    case = _case(request.user, pk)
    form = MonthlyVisitForm(request.POST, prefix="monthly")
    if form.is_valid():
        visit = call_service(
            form, services.monthly_visit_record, case=case, by=request.user, **form.cleaned_data
        )
        if visit is not None:
            messages.success(request, "已登记月排查走访。")
            return redirect("case-page", case.pk)
    return _render_case(request, case, {"monthly_visit": form}, status=400)


# --- aid: 一户一策 and measure records ----------------------------------------------------


def _members(case):
    return Member.objects.filter(household_id=case.household_id).order_by("relation", "id")


def _aid_context(request, case, plan_form=None, item_forms=None, measure_form=None):
    user = request.user
    plan = getattr(case, "aid_plan", None)
    can_plan = policy.allows(user, "case.aid_plan", case)
    if plan_form is None and can_plan:
        plan_form = AidPlanForm(
            initial={
                "summary": plan.summary if plan else "",
                "responsible_person": plan.responsible_person if plan else "",
            }
        )
    if item_forms is None and can_plan:
        existing = list(plan.items.select_related("category")) if plan else []
        item_forms = [
            PlannedItemForm(
                prefix=f"item{i}",
                initial={
                    "category": existing[i].category_id if i < len(existing) else None,
                    "description": existing[i].description if i < len(existing) else "",
                },
            )
            for i in range(max(PLANNED_ROWS, len(existing) + 2))
        ]
    can_measure = policy.allows(user, "case.measure", case)
    if measure_form is None and can_measure:
        measure_form = MeasureForm(
            prefix="measure", members=_members(case), initial={"start_on": timezone.localdate()}
        )
    measures = (
        case.measures.select_related("category")
        .prefetch_related(Prefetch("beneficiaries", queryset=Member.objects.only("id", "name")))
        .order_by("start_on", "id")
    )
    return {
        "case": case,
        "plan": plan,
        "planned": plan.items.select_related("category") if plan else [],
        "plan_form": plan_form,
        "item_forms": item_forms,
        "measure_form": measure_form,
        "measures": measures,
        "can_edit_measures": policy.allows(user, "measure.edit", MeasureRecord(case=case))
        if measures
        else False,
    }


@people_page
def consent_scan_page(request, pk: int, consent_pk: int):
    """The signed consent's scan, to staff who see the case (never a public media URL)."""
    case = _case(request.user, pk)
    consent = get_object_or_404(case.consents, pk=consent_pk)
    kind = consent.scan.name.rsplit(".", 1)[-1].lower()
    content_type = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
    try:
        # Opened and decrypted whole here (monitor/scans.py): a file that fails to
        # authenticate was altered or sealed under a key no longer configured.
        scan = consent.scan.open("rb")
    except (FileNotFoundError, PiiDecryptError) as exc:
        logger.error("consent scan %s of case %s unreadable: %r", consent.pk, case.pk, exc)
        raise Http404("扫描件无法读取，请联系系统管理员") from None
    return FileResponse(
        scan,
        content_type=content_type.get(kind, "application/octet-stream"),
        filename=f"承诺授权书-{case.household.number}.{kind}",
    )


@people_page
def case_aid_page(request, pk: int):
    case = _case(request.user, pk)
    return render(request, "cases/case_aid.html", _aid_context(request, case))


def _planned_row_count(value: str) -> int | None:
    """How many planned rows the form posted (its hidden item_count), at most MAX_PLANNED_ROWS
    read; None when it is not a count. int() raised on "abc", "1e9" or "²" (a 500), and a
    negative count read no rows at all, so the plan was saved without the rows that were
    posted (its items deleted)."""
    if not (value.isascii() and value.isdigit()):
        return None
    return min(int(value), MAX_PLANNED_ROWS)


@people_page
@require_POST
def case_aid_plan_page(request, pk: int):
    case = _case(request.user, pk)
    plan_form = AidPlanForm(request.POST)
    count = _planned_row_count(request.POST.get("item_count") or str(PLANNED_ROWS))
    rows = PLANNED_ROWS if count is None else count
    item_forms = [PlannedItemForm(request.POST, prefix=f"item{i}") for i in range(rows)]
    if count is None:
        plan_form.add_error(None, "计划措施的行数无效，请刷新页面后重新填写。")
    elif plan_form.is_valid() and all(form.is_valid() for form in item_forms):
        items = [
            {"category": f.cleaned_data["category"], "description": f.cleaned_data["description"]}
            for f in item_forms
            if f.cleaned_data.get("category") and f.cleaned_data.get("description")
        ]
        plan = call_service(
            plan_form,
            aid_plan_save,
            case=case,
            by=request.user,
            items=items,
            **plan_form.cleaned_data,
        )
        if plan is not None:
            messages.success(request, "帮扶计划已保存。")
            return redirect("case-aid-page", case.pk)
    context = _aid_context(request, case, plan_form=plan_form, item_forms=item_forms)
    return render(request, "cases/case_aid.html", context, status=400)


@people_page
@require_POST
def case_measure_new_page(request, pk: int):
    case = _case(request.user, pk)
    form = MeasureForm(request.POST, prefix="measure", members=_members(case))
    if form.is_valid():
        data = dict(form.cleaned_data)
        beneficiaries = list(data.pop("beneficiaries") or [])
        record = call_service(
            form,
            measure_record_create,
            case=case,
            by=request.user,
            beneficiaries=beneficiaries,
            **data,
        )
        if record is not None:
            messages.success(request, f"已登记帮扶措施：{record.category.name}。")
            return redirect("case-aid-page", case.pk)
    context = _aid_context(request, case, measure_form=form)
    return render(request, "cases/case_aid.html", context, status=400)


@people_page
def measure_edit_page(request, pk: int):
    cases = cases_for(request.user, timezone.localdate())
    record = get_object_or_404(
        MeasureRecord.objects.filter(case__in=cases).select_related("case__household", "category"),
        pk=pk,
    )
    decision = policy.decide(request.user, "measure.edit", record)
    if request.method == "POST" and not decision:
        # The page hides the form from a role that may not change the measure, so the
        # service's refusal (or the form's errors) came back as a 400 page without a word.
        raise PermissionDenied(decision.reason)
    form = MeasureProgressForm(request.POST or None, instance=record)
    if request.method == "POST" and form.is_valid():
        saved = call_service(
            form,
            measure_record_update,
            record=record,
            by=request.user,
            **{name: form.cleaned_data[name] for name in form.Meta.fields},
        )
        if saved is not None:
            messages.success(request, "帮扶措施已更新。")
            return redirect("case-aid-page", record.case_id)
    can_edit = decision.allowed
    return render(
        request,
        "cases/measure_edit.html",
        {"record": record, "form": form, "can_edit": can_edit},
        status=400 if form.errors else 200,
    )


# --- clearance -------------------------------------------------------------------------


def _render_clearance(request, case, bound=None, status=200, kind=None):
    """The checklist of one kind of clearance: while in monitoring the cadre chooses the
    kind (?kind=, or in place with htmx); once proposed, the proposal's kind."""
    bound = bound or {}
    today = timezone.localdate()
    choosing = case.status == Status.MONITORING
    if not choosing or kind not in ClearanceKind.values:
        kind = case.clearance_kind or ClearanceKind.ASSISTED
    in_clearance = case.status in MONITORED_STATUSES
    context = {
        "case": case,
        "kind": kind,
        "kinds": ClearanceKind.choices if choosing else [],
        "checks": clearance_checks(case, today, kind) if in_clearance else [],
        "natural_pending": kind == ClearanceKind.NATURAL and choosing,
        "evidence": _evidence_blocks(case, Stage.CLEARANCE, request.user, bound),
        "steps": _step_forms(case, request.user, today, bound, kind=kind),
    }
    return render(request, "cases/case_clearance.html", context, status=status)


@people_page
def case_clearance_page(request, pk: int):
    return _render_clearance(request, _case(request.user, pk), kind=request.GET.get("kind"))
