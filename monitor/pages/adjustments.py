"""动态调整 pages: on the case page, the history of a case's adjustments (before → after,
who, when, why, the township's decision) and the village cadre's proposal form; the
township decides with the case's step forms (乡镇确认动态调整 / 不予确认), and sees the
pending proposals in its review queue (monitor/pages/review.py).

The form is shown exactly when the policy allows `case.adjustment_propose` and nothing is
pending; it posts to one service (`adjustment_propose`). A visit that found a risk change
sends the cadre here (its notification links `?visit=<id>#adjustment`): the form comes
prefilled with that visit."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import policy
from config.pages import call_service, people_page
from monitor.adjustments import PROPOSE, adjustment_propose, history_rows, pending_adjustment
from monitor.choices import MAX_RISK_TYPES, RISK_TYPES, Category, VisitKind
from monitor.forms import ChineseForm

PREFIX = "adjustment"


class AdjustmentForm(ChineseForm):
    category = forms.ChoiceField(
        label="调整后类别", choices=Category.choices, widget=forms.RadioSelect
    )
    risk_codes = forms.MultipleChoiceField(
        label="调整后风险类型（1至5项）", choices=RISK_TYPES, widget=forms.CheckboxSelectMultiple
    )
    main_risk = forms.ChoiceField(
        label="调整后主要风险",
        choices=[("", "请选择"), *RISK_TYPES],
        help_text="须是所选风险类型之一",
    )
    reason = forms.CharField(
        label="调整理由", widget=forms.Textarea(attrs={"rows": 3}), max_length=500
    )
    monthly_visit = forms.TypedChoiceField(
        label="来源走访", coerce=int, required=False, empty_value=None, choices=[("", "无")]
    )

    def __init__(self, *args, visits=(), **kwargs):
        super().__init__(*args, **kwargs)
        # The case's monthly visits that found a risk change, newest first.
        self.fields["monthly_visit"].choices = [
            ("", "无"),
            *((v.pk, f"{v.visited_on:%Y-%m-%d} {v.findings[:30]}") for v in visits),
        ]

    def clean_risk_codes(self):
        codes = self.cleaned_data["risk_codes"]
        if len(codes) > MAX_RISK_TYPES:
            raise forms.ValidationError(f"风险类型最多选择 {MAX_RISK_TYPES} 项")
        return codes


def _visits(case):
    return list(
        case.monthly_visits.filter(kind=VisitKind.MONTHLY, risk_changed=True).order_by(
            "-visited_on", "-id"
        )[:12]
    )


def _initial(case, visits, wanted: str) -> tuple[dict, bool]:
    """The form's values: the case as it is, and the visit a notification named (when it
    is one of the case's risk-change visits). Returns (initial, opened by a visit)."""
    initial = {
        "category": case.category,
        "risk_codes": case.risk_codes,
        "main_risk": case.main_risk,
    }
    visit = next((v for v in visits if str(v.pk) == wanted), None)
    if visit is None:
        return initial, False
    initial.update(
        monthly_visit=visit.pk,
        reason=f"{visit.visited_on:%Y-%m-%d} 走访发现：{visit.findings}"[:500],
    )
    return initial, True


def adjustment_context(request, case, bound: dict) -> dict:
    """The case page's 动态调整 block: history, what is pending, and the form."""
    user = request.user
    rows = history_rows(case)
    pending = pending_adjustment(case)
    form = bound.get("adjustment")
    opened = form is not None
    if form is None and pending is None and policy.allows(user, PROPOSE, case):
        visits = _visits(case)
        initial, opened = _initial(case, visits, request.GET.get("visit", ""))
        form = AdjustmentForm(prefix=PREFIX, initial=initial, visits=visits)
    if not rows and form is None:
        return {}
    return {
        "adjustment": {"rows": rows, "pending": pending, "form": form, "open": opened},
    }


@people_page
@require_POST
def case_adjustment_page(request, pk: int):
    from monitor.pages.cases import _case, _render_case

    case = _case(request.user, pk)
    form = AdjustmentForm(request.POST, prefix=PREFIX, visits=_visits(case))
    if form.is_valid():
        data = form.cleaned_data
        proposed = call_service(
            form,
            adjustment_propose,
            case=case,
            by=request.user,
            category=data["category"],
            risk_codes=data["risk_codes"],
            main_risk=data["main_risk"],
            reason=data["reason"],
            monthly_visit=data["monthly_visit"],
        )
        if proposed is not None:
            messages.success(request, "已提出动态调整，待乡镇确认。")
            return redirect(reverse("case-page", args=[case.pk]) + "#adjustment")
    return _render_case(request, case, {"adjustment": form}, status=400)
