"""Registry pages: search, and one household with its members, income, cases, measures,
visits and timeline. They share the selectors the API uses, so page and API cannot
disagree on scope or search."""

from django import forms
from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.generic import ListView

from accounts import policy
from accounts.scope import region_prefix_of
from config.pages import call_service, is_htmx, people_page
from config.ratelimit import allow
from households.models import Household, IncomeRecord, Member
from households.selectors import households_for, search_households
from households.services import REVEALABLE_FIELDS, member_reveal
from interventions.models import MeasureRecord
from monitor.choices import CLOSED_STATUSES
from monitor.models import Case, HomeVisit, MonthlyVisit
from monitor.selectors import household_timeline

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
    field = forms.ChoiceField(label="查看", choices=list(REVEALABLE_FIELDS.items()))
    reason = forms.CharField(
        label="查看事由",
        max_length=300,
        min_length=2,
        error_messages={"required": "请填写查看事由", "min_length": "请填写查看事由"},
    )


def _household(user, pk: int) -> Household:
    return get_object_or_404(households_for(user).select_related("village__parent"), pk=pk)


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
    context = {
        "household": household,
        "members": members,
        "incomes": IncomeRecord.objects.filter(household=household).order_by("-period_end"),
        "cases": cases,
        "open_case": open_case,
        "measures": MeasureRecord.objects.filter(case__household=household)
        .select_related("category")
        .prefetch_related(Prefetch("beneficiaries", queryset=Member.objects.only("id", "name")))
        .order_by("-start_on"),
        "home_visits": HomeVisit.objects.filter(case__household=household).order_by("-visited_on"),
        "monthly_visits": MonthlyVisit.objects.filter(case__household=household).order_by(
            "-visited_on"
        ),
        "timeline": household_timeline(household),
        "can_file": open_case is None and policy.allows(request.user, "case.file", household),
        "can_reveal": policy.allows(request.user, "member.reveal"),
        "reveal_form": RevealForm(),
    }
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
