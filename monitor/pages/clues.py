"""Clue pages (预警线索) and department batch pages (预警名单批次).

The clue list is the village's inbox of clues to verify at home and the township's and
county's view of their region's clues with the outcomes; a clue's page carries its evidence,
the farmer's own applications (numbers masked, the phone shown on request with a reason),
and the button or form the policy allows: the township accepts a self-application, the
village records what it found. The batch pages are the receipts of the lists departments
pushed, for township reviewers and county approvers. The round pages (下发批次) are the
county's: each list's clues in the county, sent down to the villages as a whole or clue by
clue, and the count of rounds sent.

Every read starts from a selector in monitor/feeds/selectors.py (the region scope: another
region's clue or batch is a 404), every button is the policy's answer, and every POST calls
one service; its refusal is shown on the form in Chinese."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import policy
from config.pages import call_service, is_htmx, people_page, people_page_for, safe_next
from config.ratelimit import allow
from households.choices import RegionLevel
from households.models import Region
from households.services import protected_reveal
from monitor.choices import (
    MAX_RISK_TYPES,
    RISK_TYPES,
    BatchStatus,
    Category,
    ClueChannel,
    ClueOutcome,
    ClueStatus,
    RowOutcome,
)
from monitor.feeds.clues import clue_accept, clue_dispatch, clue_verify, suggested_risk_codes
from monitor.feeds.dispatch import round_dispatch, round_source
from monitor.feeds.screening import screening_run
from monitor.feeds.selectors import (
    batch_rows_for,
    batches_for,
    clues_for,
    clues_overdue_first,
    finding_label,
    households_to_link,
    overdue_filter,
    round_clues,
    round_progress,
    rounds_for,
    rounds_summary,
)

CLUES_PER_PAGE = 30
ROWS_PER_PAGE = 50
BATCHES_PER_PAGE = 30
# The API's reveal throttle, applied per user on the pages too (settings: "reveal"); the
# same counter as the household page's reveal.
REVEAL_LIMIT = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["reveal"].split("/")[0])

ROUNDS_PER_PAGE = 30
STATUS_BADGE = {
    ClueStatus.PENDING_DISPATCH: "warn",
    ClueStatus.PENDING_ACCEPTANCE: "warn",
    ClueStatus.VERIFYING: "info",
    ClueStatus.CLOSED: "ok",
}
OUTCOME_BADGE = {
    ClueOutcome.IDENTIFY: "bad",
    ClueOutcome.NOT_ELIGIBLE: "ok",
    ClueOutcome.ALREADY_MONITORED: "info",
    ClueOutcome.UNVERIFIABLE: "warn",
}
BATCH_BADGE = {BatchStatus.RECEIVED: "info", BatchStatus.DONE: "ok", BatchStatus.FAILED: "bad"}
ROW_BADGE = {
    RowOutcome.INVALID: "bad",
    RowOutcome.DUPLICATE: "warn",
    RowOutcome.NOT_FOUND: "warn",
    RowOutcome.NEW_CLUE: "info",
    RowOutcome.MERGED: "info",
    RowOutcome.ATTACHED_TO_CASE: "ok",
}
ALL = [("", "全部")]
CHINESE_ERRORS = {"required": "此项必填", "invalid_choice": "请选择有效的选项"}


# --- forms -----------------------------------------------------------------------------


class ClueFilterForm(forms.Form):
    status = forms.ChoiceField(label="状态", choices=ALL + ClueStatus.choices, required=False)
    channel = forms.ChoiceField(label="来源", choices=ALL + ClueChannel.choices, required=False)
    outcome = forms.ChoiceField(label="核实结果", choices=ALL + ClueOutcome.choices, required=False)
    overdue = forms.ChoiceField(
        label="是否超期", choices=[*ALL, ("yes", "已超期"), ("no", "未超期")], required=False
    )
    village = forms.ChoiceField(label="村", choices=ALL, required=False)

    def __init__(self, *args, villages=None, **kwargs):
        super().__init__(*args, **kwargs)
        if villages is None:
            del self.fields["village"]
        else:
            self.fields["village"].choices = ALL + villages
        for field in self.fields.values():
            field.error_messages = {**field.error_messages, **CHINESE_ERRORS}


class HouseholdChoice(forms.ModelChoiceField):
    def label_from_instance(self, household) -> str:
        return f"{household.number} {household.head_name or ''}".strip()


class VerifyForm(forms.Form):
    """核实反馈. The form checks the shape; the service checks the rules (a note, the
    category for 纳入监测, a registered household …) with the API's words."""

    outcome = forms.ChoiceField(
        label="核实结果", choices=ClueOutcome.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="核实说明",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="入户核实的情况（必填）",
    )
    category = forms.ChoiceField(
        label="监测对象类别",
        choices=Category.choices,
        widget=forms.RadioSelect,
        required=False,
        help_text="纳入监测时必选",
    )
    risk_codes = forms.MultipleChoiceField(
        label=f"风险类型（最多 {MAX_RISK_TYPES} 项）",
        choices=RISK_TYPES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="已按预警类型和申报内容预选，可修改",
    )
    main_risk = forms.ChoiceField(
        label="主要风险",
        choices=[("", "（默认：所选风险类型的第一项）"), *RISK_TYPES],
        required=False,
        help_text="须是所选风险类型之一",
    )
    household = HouseholdChoice(
        label="已登记的农户",
        queryset=None,
        required=False,
        empty_label="（请选择）",
        help_text="申报人原未登记：先登记农户及家庭成员，再在此选择",
    )

    def __init__(self, *args, households=None, **kwargs):
        super().__init__(*args, **kwargs)
        if households is None:
            del self.fields["household"]
        else:
            self.fields["household"].queryset = households
        for field in self.fields.values():
            field.error_messages = {**field.error_messages, **CHINESE_ERRORS}
        self.fields["outcome"].error_messages["required"] = "请选择核实结果"
        self.fields["note"].error_messages["required"] = "请填写核实说明"

    def clean_risk_codes(self):
        codes = self.cleaned_data["risk_codes"]
        if len(codes) > MAX_RISK_TYPES:
            raise forms.ValidationError(f"风险类型最多选择 {MAX_RISK_TYPES} 项")
        return codes

    def clean(self):
        data = super().clean()
        main, codes = data.get("main_risk"), data.get("risk_codes")
        # Against the codes ticked here; against the suggested ones, the service checks it.
        if main and codes and main not in codes:
            self.add_error("main_risk", "主要风险须是所选的风险类型之一")
        return data


class RevealForm(forms.Form):
    reason = forms.CharField(
        label="查看事由",
        max_length=300,
        min_length=2,
        error_messages={"required": "请填写查看事由", "min_length": "请填写查看事由"},
    )


# --- helpers ---------------------------------------------------------------------------


def _clue(user, pk: int):
    return get_object_or_404(
        clues_for(user).select_related("village__parent", "case", "closed_by", "relapse_of"),
        pk=pk,
    )


def _decorate(clue, today) -> None:
    """What a row or a page shows of a clue, worked out from rows already fetched."""
    # Waiting for the county's dispatch, the village's clock has not started.
    running = clue.status not in (ClueStatus.CLOSED, ClueStatus.PENDING_DISPATCH)
    late = running and clue.due_on < today
    clue.late_days = (today - clue.due_on).days if late else 0
    clue.status_badge = STATUS_BADGE.get(clue.status, "")
    clue.outcome_badge = OUTCOME_BADGE.get(clue.outcome, "")
    clue.evidence_rows = list(clue.evidence.all())
    clue.application_rows = list(clue.applications.all())
    signals = [
        f"{row.batch.department.name if row.batch.department_id else '数据筛查'}："
        f"{row.indicator or '—'}"
        for row in clue.evidence_rows
    ]
    signals += [f"自主申报：{a.get_risk_code_display()}" for a in clue.application_rows]
    clue.signals = list(dict.fromkeys(signals))
    first = clue.application_rows[0] if clue.application_rows else None
    clue.applicant_name = first.name if first else ""


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _villages(user) -> list[tuple[str, str]] | None:
    """The villages of a township or county user for the filter; None for a village cadre."""
    if user.region_id and Region.level_of_code(user.region_id) == RegionLevel.VILLAGE:
        return None
    villages = (
        Region.objects.visible_to(user)
        .filter(level=RegionLevel.VILLAGE)
        .select_related("parent")
        .order_by("code")
    )
    many_townships = Region.level_of_code(user.region_id) < RegionLevel.TOWNSHIP
    return [
        (v.code, f"{v.parent.name} {v.name}" if many_townships and v.parent else v.name)
        for v in villages
    ]


# --- clue list -------------------------------------------------------------------------


@people_page
def clue_list_page(request):
    """预警线索: the village's clues to verify (by default), or the township's and county's
    clues with their outcomes; overdue ones first."""
    user, today = request.user, timezone.localdate()
    data = request.GET.copy()
    inbox = policy.allows(user, "clue.verify")  # the role that verifies: its inbox
    # The county's inbox: the clues waiting for its dispatch.
    dispatch_inbox = not inbox and policy.allows(user, "clue.dispatch")
    if "status" not in data:
        if inbox:
            data["status"] = ClueStatus.VERIFYING
        elif dispatch_inbox:
            data["status"] = ClueStatus.PENDING_DISPATCH
    villages = _villages(user)
    form = ClueFilterForm(data, villages=villages)
    form.is_valid()  # a bad value is reported beside its filter and ignored
    chosen = form.cleaned_data
    clues = clues_for(user)
    for name in ("status", "channel", "outcome"):
        if chosen.get(name):
            clues = clues.filter(**{name: chosen[name]})
    if chosen.get("village"):
        clues = clues.filter(village_id=chosen["village"])
    if chosen.get("overdue"):
        clues = overdue_filter(clues, chosen["overdue"] == "yes", today)
    page = Paginator(clues_overdue_first(clues, today), CLUES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for clue in page:
        _decorate(clue, today)
    return render(
        request,
        "clues/clue_list.html",
        {
            "form": form,
            "page": page,
            "query": _query_without_page(request),
            "inbox": inbox,
            "dispatch_inbox": dispatch_inbox and data.get("status") == ClueStatus.PENDING_DISPATCH,
            "region": user.region,
            "here": request.get_full_path(),
        },
    )


# --- one clue --------------------------------------------------------------------------


def _verify_form(user, clue, data=None):
    households = households_to_link(user, clue.village_id) if clue.household_id is None else None
    initial = {"risk_codes": suggested_risk_codes(clue)} if data is None else None
    return VerifyForm(data, initial=initial, households=households)


def _render_clue(
    request,
    clue,
    *,
    verify_form=None,
    accept_form=None,
    dispatch_form=None,
    revealed=None,
    status=200,
):
    user, today = request.user, timezone.localdate()
    _decorate(clue, today)
    if verify_form is None and policy.allows(user, "clue.verify", clue):
        verify_form = _verify_form(user, clue)
    for application in clue.application_rows:
        application.reveal_form, application.revealed = RevealForm(), None
        if revealed and revealed[0].pk == application.pk:
            application.reveal_form, application.revealed = revealed[1], revealed[2]
    context = {
        "clue": clue,
        "household": clue.household,
        "verify_form": verify_form,
        "accept_form": accept_form,
        "dispatch_form": dispatch_form,
        "transitions": list(clue.transitions.select_related("actor").order_by("at", "id")),
    }
    return render(request, "clues/clue_page.html", context, status=status)


@people_page
def clue_page(request, pk: int):
    return _render_clue(request, _clue(request.user, pk))


@people_page
@require_POST
def clue_verify_page(request, pk: int):
    """核实反馈 through `clue_verify`: 纳入监测 goes on to the new case, the other outcomes
    back to the clue."""
    clue = _clue(request.user, pk)
    form = _verify_form(request.user, clue, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        verified = call_service(
            form,
            clue_verify,
            clue_id=clue.pk,
            by=request.user,
            outcome=data["outcome"],
            note=data["note"],
            category=data["category"] or None,
            risk_codes=data["risk_codes"] or None,
            household=data.get("household"),
            main_risk=data["main_risk"] or None,
        )
        if verified is not None:
            if verified.outcome == ClueOutcome.IDENTIFY:
                messages.success(
                    request,
                    "已纳入监测：监测对象已登记（村级核实中），请继续登记入户核实、"
                    "承诺授权、民主评议和公示。",
                )
                return redirect("case-page", verified.case_id)
            messages.success(request, f"核实结果已反馈：{verified.get_outcome_display()}。")
            return redirect("clue-page", clue.pk)
    return _render_clue(request, clue, verify_form=form, status=400)


@people_page
@require_POST
def clue_accept_page(request, pk: int):
    """乡镇受理 a farmer's own application through `clue_accept`."""
    clue = _clue(request.user, pk)
    form = forms.Form(request.POST)
    if call_service(form, clue_accept, clue_id=clue.pk, by=request.user) is not None:
        messages.success(request, "已受理：线索已转村级入户核实。")
        return redirect("clue-page", clue.pk)
    return _render_clue(request, clue, accept_form=form, status=400)


@people_page
@require_POST
def clue_dispatch_page(request, pk: int):
    """县级下发 one clue through `clue_dispatch`; back to where the button was (the clue
    list, a round's page) or to the clue."""
    clue = _clue(request.user, pk)
    form = forms.Form(request.POST)
    if call_service(form, clue_dispatch, clue_id=clue.pk, by=request.user) is not None:
        messages.success(request, "已下发：线索已转村级入户核实。")
        return redirect(safe_next(request) or reverse("clue-page", args=[clue.pk]))
    return _render_clue(request, clue, dispatch_form=form, status=400)


@people_page
@require_POST
def clue_reveal_applicant_page(request, pk: int):
    """查看申报人完整手机号: asks a reason; the service writes the audit row before the
    number is decrypted. htmx gets the number in place; without JavaScript the clue's page
    comes back with it."""
    clue = _clue(request.user, pk)
    wanted = request.POST.get("application", "")
    # Compared as text: int() of "²" (for which isdigit() is true) raised, a 500.
    application = next((a for a in clue.applications.all() if str(a.pk) == wanted), None)
    if application is None:
        raise Http404("该线索下没有这份申报")
    form = RevealForm(request.POST)
    value = None
    if form.is_valid():
        if not allow(f"reveal:{request.user.pk}", limit=REVEAL_LIMIT, seconds=3600):
            form.add_error(None, "查看过于频繁，请稍后再试。")
        else:
            value = call_service(
                form,
                protected_reveal,
                obj=application,
                field="phone",
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
    status = 400 if form.errors else 200
    if is_htmx(request):
        application.reveal_form, application.revealed = form, value
        context = {"clue": clue, "application": application}
        return render(request, "clues/_reveal.html", context, status=status)
    return _render_clue(request, clue, revealed=(application, form, value), status=status)


# --- department batches ----------------------------------------------------------------


# People pages for the roles that read department batches.
batch_page_guard = people_page_for("batches.read")


@batch_page_guard
def batch_list_page(request):
    """预警名单批次: the lists departments pushed and the screening runs, with their counts."""
    page = Paginator(batches_for(request.user), BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    for batch in page:
        batch.status_badge = BATCH_BADGE.get(batch.status, "")
    return render(
        request,
        "clues/batch_list.html",
        {"page": page, "query": _query_without_page(request), "region": request.user.region},
    )


class RowFilterForm(forms.Form):
    outcome = forms.ChoiceField(
        label="处理结果",
        choices=ALL + [c for c in RowOutcome.choices if c[0] != RowOutcome.PENDING],
        required=False,
        error_messages={"invalid_choice": "请选择有效的处理结果"},
    )


@batch_page_guard
def batch_page(request, pk: int):
    """批次回执: the counts and each row's outcome (masked ID numbers; the household number
    and name only for people inside the user's region)."""
    batch = get_object_or_404(batches_for(request.user), pk=pk)
    form = RowFilterForm(request.GET)
    form.is_valid()
    rows = batch_rows_for(request.user, batch)
    if form.cleaned_data.get("outcome"):
        rows = rows.filter(outcome=form.cleaned_data["outcome"])
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    for row in page:
        row.outcome_badge = ROW_BADGE.get(row.outcome, "")
        row.finding_label = finding_label(row.finding)
    return render(
        request,
        "clues/batch_page.html",
        {
            **_batch_status(batch),
            "form": form,
            "page": page,
            "query": _query_without_page(request),
        },
    )


def _batch_status(batch) -> dict:
    """The receipt's status block (clues/_batch_status.html): the state and the counts, and
    whether it still polls — only while the batch waits to be processed."""
    return {
        "batch": batch,
        "status_badge": BATCH_BADGE.get(batch.status, ""),
        "polling": batch.status == BatchStatus.RECEIVED,
        "counts": [
            ("总行数", batch.rows_total),
            ("新生成预警线索", batch.rows_new_clue),
            ("并入已有线索", batch.rows_merged),
            ("并入监测对象档案", batch.rows_attached),
            ("未在登记库中", batch.rows_not_found),
            ("批次内重复", batch.rows_duplicate),
            ("数据无效", batch.rows_invalid),
        ],
    }


@batch_page_guard
def batch_status_page(request, pk: int):
    """The receipt's status block alone, which the page polls every 2 seconds while the
    batch is being processed. Once it is done (or failed) the answer carries no trigger, so
    polling stops, and htmx reloads the page to show the rows."""
    batch = get_object_or_404(batches_for(request.user), pk=pk)
    context = _batch_status(batch)
    response = render(request, "clues/_batch_status.html", context)
    if is_htmx(request) and not context["polling"]:
        response["HX-Refresh"] = "true"
    return response


@batch_page_guard
@require_POST
def screening_run_page(request):
    """立即运行数据筛查（本辖区） through `screening_run`, the API's service; on to the run's
    receipt, which follows the processing."""
    form = forms.Form(request.POST)
    batch = call_service(form, screening_run, by=request.user)
    if batch is None:
        messages.error(request, "；".join(form.non_field_errors()))
        return redirect("batch-list-page")
    messages.success(request, "已开始运行数据筛查（本辖区），处理结果见本回执。")
    return redirect("batch-page", batch.pk)


# --- dispatch rounds (下发批次) -----------------------------------------------------------

round_page_guard = people_page_for("rounds.read")


@round_page_guard
def round_list_page(request):
    """下发批次: each list's clues in the county, how many went down and came back, and the
    count of rounds sent ("预警信息下发 N 次，线索 M 条")."""
    user = request.user
    page = Paginator(rounds_for(user), ROUNDS_PER_PAGE).get_page(request.GET.get("page"))
    round_progress(page)
    for item in page:
        item.source = round_source(item)
    return render(
        request,
        "clues/round_list.html",
        {
            "page": page,
            "query": _query_without_page(request),
            "summary": rounds_summary(user),
            "region": user.region,
        },
    )


def _render_round(request, dispatch_round, *, dispatch_form=None, status=200):
    user, today = request.user, timezone.localdate()
    round_progress([dispatch_round])
    dispatch_round.source = round_source(dispatch_round)
    page = Paginator(
        clues_overdue_first(round_clues(user, dispatch_round), today), CLUES_PER_PAGE
    ).get_page(request.GET.get("page"))
    for clue in page:
        _decorate(clue, today)
    context = {
        "round": dispatch_round,
        "page": page,
        "query": _query_without_page(request),
        "dispatch_form": dispatch_form,
        "waiting": dispatch_round.clue_count - dispatch_round.dispatched_count,
        "here": request.get_full_path(),
    }
    return render(request, "clues/round_page.html", context, status=status)


@round_page_guard
def round_page(request, pk: int):
    return _render_round(request, get_object_or_404(rounds_for(request.user), pk=pk))


@round_page_guard
@require_POST
def round_dispatch_page(request, pk: int):
    """整批下发 through `round_dispatch`: every clue of the round still waiting goes down."""
    dispatch_round = get_object_or_404(rounds_for(request.user), pk=pk)
    form = forms.Form(request.POST)
    sent = call_service(form, round_dispatch, round_id=dispatch_round.pk, by=request.user)
    if sent is not None:
        messages.success(request, f"已整批下发 {sent.sent} 条线索，各村已收到入户核实提醒。")
        return redirect("round-page", dispatch_round.pk)
    return _render_round(request, dispatch_round, dispatch_form=form, status=400)
