"""Reads of warning clues and of the department batches behind them, for the pages and the
clue API. Every function that returns people starts from the region scope; each read pulls
its related rows in a fixed number of queries, however many clues or rows a page shows.

The stored upload of a batch (`WarningBatch.payload`) is a large encrypted blob that no page
shows: every batch read here defers it, including batches reached through a clue's evidence.
"""

from datetime import date

from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Substr

from accounts import policy
from accounts.scope import region_prefix_of
from households.choices import PREFIX_LENGTH, RegionLevel, Relation
from households.models import Household, Member
from monitor.choices import MONITORED_STATUSES, ClueOutcome, ClueStatus, RowOutcome, Status
from monitor.models import Clue, DispatchRound, SelfApplication, WarningBatch, WarningRow

HIDDEN = "—"


def _heads(household_ref: str):
    return Member.objects.filter(household=OuterRef(household_ref), relation=Relation.HEAD)


def clue_evidence():
    """A clue's evidence rows in list order, each with its batch's department (the batch
    without its stored upload)."""
    return (
        WarningRow.objects.select_related("batch__department")
        .defer("batch__payload")
        .order_by("batch_id", "row_number")
    )


# A clue still open when the next month's lists arrive is hit again and again and gathers
# evidence rows without end (one reached 456 under the load benchmark, and its page of 20
# clues took 200 ms of CPU to serialise). A list of clues carries each one's latest rows and
# the count; the clue itself carries all of them.
LISTED_EVIDENCE = 10


def clues_for(user, *, evidence_limit: int | None = None):
    """The clues of the user's region with their evidence and self-applications (two
    prefetches, whatever the number of clues), the household head's name (户主) and the
    number of evidence rows. With `evidence_limit`, only each clue's latest rows are read,
    newest first, into `latest_evidence` (one query still: a window over the clues)."""
    applications = SelfApplication.objects.order_by("submitted_at", "id")
    rows = WarningRow.objects.filter(clue=OuterRef("pk")).order_by().values("clue")
    evidence = (
        Prefetch("evidence", queryset=clue_evidence())
        if evidence_limit is None
        else Prefetch(
            "evidence",
            queryset=clue_evidence().order_by("-batch_id", "-row_number")[:evidence_limit],
            to_attr="latest_evidence",
        )
    )
    return (
        Clue.objects.visible_to(user)
        .select_related("household", "village")
        .annotate(
            head_name=Subquery(_heads("household_id").values("name")[:1]),
            evidence_count=Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")[:1]), 0),
        )
        .prefetch_related(evidence, Prefetch("applications", queryset=applications))
    )


def _overdue(today: date) -> Q:
    """Past its deadline and still the village's (or township's) to do: a clue waiting for
    the county's dispatch has no village clock running yet."""
    return Q(due_on__lt=today) & ~Q(status__in=(ClueStatus.CLOSED, ClueStatus.PENDING_DISPATCH))


def clues_overdue_first(queryset, today: date):
    """Open clues past their verification deadline first (the longest overdue on top), then
    by deadline. `late` is 1 for those overdue clues."""
    overdue = _overdue(today)
    return queryset.annotate(
        late=Case(When(overdue, then=Value(1)), default=Value(0), output_field=IntegerField())
    ).order_by("-late", "due_on", "id")


def overdue_filter(queryset, wanted: bool, today: date):
    overdue = _overdue(today)
    return queryset.filter(overdue) if wanted else queryset.exclude(overdue)


def households_to_link(user, village_code: str):
    """Households a cadre may link an applicant who was not yet registered to: the
    registered households of the clue's village, within the user's region."""
    return (
        Household.objects.visible_to(user)
        .filter(village_id=village_code)
        .annotate(head_name=Subquery(_heads("pk").values("name")[:1]))
        .order_by("number")
    )


# --- department batches ----------------------------------------------------------------


def covering_prefixes(prefix: str) -> list[str]:
    """The region prefix itself and those of every region above it, and "" (everything)."""
    return ["", *(prefix[:n] for n in sorted(set(PREFIX_LENGTH.values())) if n <= len(prefix))]


def batches_for(user):
    """The warning batches (预警名单批次) a township reviewer or county approver follows.

    The rule, one clause per source:

    * a department's list (部门推送) is relevant when the department's own region lies
      inside the user's county (county bureaus, and any township office of that county).
      Departments push for their whole jurisdiction and the county dispatches the clues to
      townships, so a township reviewer sees the same lists as the county approver —
      including a list that failed or matched nobody, which a rule based on matched rows
      would hide. Lists of departments above the county (a city or provincial bureau) are
      not shown here: their receipts would list people of other counties;
    * a screening run (数据筛查) is relevant when the region screened and the user's region
      overlap: the run covers the user's region (a county-wide run for a township, the
      monthly run over the whole registry, whose scope is empty) or lies inside it (a
      township's own run, for its county).

    Anyone else (village cadres, roles without people duties, users without a region) gets
    no batches at all: the policy's `batches.read` decides who reads batches. The stored
    upload is deferred.
    """
    prefix = region_prefix_of(user)
    county_digits = PREFIX_LENGTH[RegionLevel.COUNTY]
    if prefix is None or len(prefix) < county_digits or not policy.allows(user, "batches.read"):
        return WarningBatch.objects.none()
    county = prefix[:county_digits]
    department_lists = Q(
        source=WarningBatch.Source.DEPARTMENT, department__region__code__startswith=county
    )
    screening_runs = Q(source=WarningBatch.Source.SCREENING) & (
        Q(scope_prefix__in=covering_prefixes(prefix)) | Q(scope_prefix__startswith=prefix)
    )
    return (
        WarningBatch.objects.filter(department_lists | screening_runs)
        .select_related("department")
        .defer("payload")
        .order_by("-received_at", "-id")
    )


def with_findings(rows):
    """Each list row with the finding once it exists (`finding`, a ClueOutcome code, "" while
    open). A row attached to a case is 已是监测对象 once that case is decided for monitoring
    (in monitoring or its clearance now, or identified and since cleared or closed), 不符合条件
    once it was rejected (不予纳入), and empty while the household is still being identified
    or the case was withdrawn; a row that raised or joined a clue takes the clue's outcome once
    the village fed it back. One join each on the row's case and clue."""
    attached = Q(outcome=RowOutcome.ATTACHED_TO_CASE)
    monitored = Q(case__status__in=MONITORED_STATUSES) | Q(case__identified_on__isnull=False)
    return rows.annotate(
        finding=Case(
            When(attached & monitored, then=Value(ClueOutcome.ALREADY_MONITORED.value)),
            When(
                attached & Q(case__status=Status.REJECTED),
                then=Value(ClueOutcome.NOT_ELIGIBLE.value),
            ),
            When(attached, then=Value("")),
            When(clue__status=ClueStatus.CLOSED, then=F("clue__outcome")),
            default=Value(""),
        )
    )


def finding_label(code: str) -> str:
    return ClueOutcome(code).label if code in ClueOutcome.values else ""


def batch_rows_for(user, batch: WarningBatch):
    """The receipt's rows of one batch (already looked up through `batches_for`), in list
    order. A row matched to a household outside the user's region shows neither that
    household's number nor the person's name (`shown_number`, `shown_name` are "—"): the
    person lives outside the user's region. Rows that matched nobody keep their name (the
    county follows up people missing from the registry). ID numbers only masked."""
    prefix = region_prefix_of(user) or "-"  # "-" matches no code: nothing is inside
    inside = Q(household__village__code__startswith=prefix)
    outside = Q(household__isnull=False) & ~inside
    return (
        with_findings(WarningRow.objects.filter(batch=batch))
        .annotate(
            shown_number=Case(When(inside, then=F("household__number")), default=Value(HIDDEN)),
            shown_name=Case(When(outside, then=Value(HIDDEN)), default=F("name")),
        )
        .defer("id_number_hash", "detail")
        .order_by("row_number")
    )


# --- dispatch rounds (下发批次) ------------------------------------------------------------


def rounds_for(user):
    """The rounds of the counties inside the user's region (county staff: their county's;
    staff above it: their counties'), newest first, with their county, source batch (without
    its upload) and dispatcher. Nobody else reads rounds: the policy's `rounds.read`."""
    prefix = region_prefix_of(user)
    if prefix is None or not policy.allows(user, "rounds.read"):
        return DispatchRound.objects.none()
    return (
        DispatchRound.objects.filter(county__code__startswith=prefix)
        .select_related("county", "batch__department", "dispatched_by")
        .defer("batch__payload")
        .order_by("-created_at", "-id")
    )


def _round_clues_filter(rounds) -> Q:
    """The clues of these rounds: each round's batch, in its county (a village-code prefix,
    which the clue_village_status index serves)."""
    wanted = Q()
    for item in rounds:
        wanted |= Q(source_batch_id=item.batch_id, village__code__startswith=item.county_id[:6])
    return wanted


def round_progress(rounds) -> None:
    """Set on each round of a page its clues sent down (`dispatched_count`), fed back by the
    village (`verified_count`) and identified (`identified_count`): one query for the page."""
    rounds = list(rounds)
    for item in rounds:
        item.dispatched_count = item.verified_count = item.identified_count = 0
    if not rounds:
        return
    rows = (
        Clue.objects.filter(_round_clues_filter(rounds))
        .annotate(county=Substr("village_id", 1, 6))
        .values("source_batch_id", "county")
        .annotate(
            dispatched=Count("id", filter=~Q(status=ClueStatus.PENDING_DISPATCH)),
            verified=Count("id", filter=Q(status=ClueStatus.CLOSED)),
            identified=Count("id", filter=Q(outcome=ClueOutcome.IDENTIFY)),
        )
        .order_by()
    )
    found = {(row["source_batch_id"], row["county"]): row for row in rows}
    for item in rounds:
        row = found.get((item.batch_id, item.county_id[:6]))
        if row is not None:
            item.dispatched_count = row["dispatched"]
            item.verified_count = row["verified"]
            item.identified_count = row["identified"]


def rounds_summary(user) -> dict:
    """预警信息下发 N 次，线索 M 条: the rounds of the user's region sent down (by the county, by
    automatic dispatch, or clue by clue to the last) and the clues they carried."""
    totals = (
        rounds_for(user)
        .filter(dispatched_at__isnull=False)
        .aggregate(rounds=Count("id"), clues=Sum("clue_count"))
    )
    rounds, clues = totals["rounds"], totals["clues"] or 0
    waiting = rounds_for(user).filter(dispatched_at__isnull=True).count()
    return {
        "rounds_dispatched": rounds,
        "clues_dispatched": clues,
        "rounds_waiting": waiting,
        "text": f"预警信息下发 {rounds} 次，线索 {clues} 条",
    }


def round_clues(user, dispatch_round):
    """The clues of one round (already looked up through `rounds_for`), in the region scope."""
    return clues_for(user).filter(
        source_batch_id=dispatch_round.batch_id,
        village__code__startswith=dispatch_round.county_id[:6],
    )


def case_warnings(case):
    """部门预警信息 attached to a case: the list rows of departments and screening runs that hit
    the household while the case was open (evidence of a possible change), newest list first,
    each with its batch's department (never the stored upload). ID numbers only masked."""
    return (
        WarningRow.objects.filter(case=case)
        .select_related("batch__department")
        .defer("batch__payload", "id_number_hash")
        .order_by("-batch__received_at", "-batch_id", "row_number")
    )
