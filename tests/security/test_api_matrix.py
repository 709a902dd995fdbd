"""Every API endpoint, every role, objects inside and outside the region: a hostile matrix.

The page matrix (tests/pages/test_every_page.py) does this for the pages; this module does it
for /api/, over the same scenario (its `demo` fixture: the demo county 大通县 and a second
county 湟中区 with one of everything, their users, a province statistics viewer and a
department of each county), loaded once for the module and rolled back after it.

API_ROUTES names, for every route of the URL resolver under /api/ and every method it
offers, the kind of object its path names and who it is for. The answers expected come from
README ("Roles and scope", the API section) and accounts/policy.py, never from what the code
answers. They are read in one fixed order:

1. 401 — nobody signed in (machine clients sign in with their key, people with a session);
2. 403 — the role is not let in by the endpoint at all (a role without people duties on a
   people endpoint, anyone but the county approver on rounds, …);
3. 404 — the object lies outside the user's region (never a 403 or a 400 that would confirm
   it exists);
4. the object's state refuses the action (409, or 400 for records), and
5. 403 — the role does not take this action on this object (where both refuse, either
   answer is right: the user reads that object, so which refusal comes first tells nothing;
   README's policy says the state, an endpoint's own role guard says the role);
6. otherwise the answer of a right request: 200 for a read; 400 for a write, which is sent
   an empty or invalid body so that nothing is written. A write that takes no body at all
   (accept a clue, dispatch a round, draw the spot check …) is answered for real, inside a
   savepoint rolled back at once.

No answer may be a server error. A deviation the application still has is listed in
KNOWN_WRONG with the reason, and that one case is an xfail(strict=True): it fails as soon as
the application answers right, so the list shrinks with the fixes.

A new API route fails `test_the_table_knows_every_api_route` until it is added to API_ROUTES
(or OPEN_ROUTES), so the matrix grows with the URL list."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.choices import ROLE_LEVEL, Role
from accounts.models import ApiToken, AuditEvent, User
from accounts.policy import rule_for
from households.models import (
    Household,
    IncomeRecord,
    Member,
    MonitoringLine,
    Region,
    RegistryImport,
)
from interventions.models import (
    AidPlan,
    InsuranceClaim,
    InsuranceEnrolment,
    InsurancePolicy,
    MeasureCategory,
    MeasureRecord,
)
from monitor.administration import department_account_confirm
from monitor.choices import BatchStatus, Status
from monitor.feeds.screening import screening_queue
from monitor.models import (
    Announcement,
    Case,
    Clue,
    CrossCheckItem,
    Deadline,
    Department,
    DispatchRound,
    ExportJob,
    MonthlyReport,
    Notification,
    RegionPolicy,
    WarningBatch,
)
from tests.conftest import COUNTY, OTHER_COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE
from tests.pages.test_every_page import (  # the page matrix's scenario and role sets
    ADMIN,
    EVERYONE,
    MANAGERS,
    PEOPLE,
    REGISTRY_EDITORS,
    REPORT_READERS,
    SECOND_DEPARTMENT,
    USERNAMES,
    A,
    C,
    D,
    T,
    V,
    _first_per,
    demo,  # noqa: F401 — a fixture: the module's scenario
    demo_media,  # noqa: F401 — a fixture: the files the scenario stored
)

# Shared reference data (monitoring lines, local rules, the measure and cross-check
# catalogues, insurance policies): every signed-in role reads it but the auditor, who reads
# the audit log and nothing else (三权分立, issue 11).
READERS = EVERYONE - {A}
REVIEWERS = frozenset({T, C})
PUBLIC = "public"  # answered without signing in (一键申报 and its lookup)
TODAY = timezone.localdate()

# --- the table: route → method → the object its path names and who it is for -----------


@dataclass(frozen=True)
class Op:
    kind: str | None  # the object named in the path (API_KINDS), None for a list or a form
    who: frozenset | str  # the roles it is for (PUBLIC: anyone, signed in or not)
    # The roles the endpoint lets in before it looks the object up (default: `who`). A role
    # let in but not in `who` meets the object's scope and state first, then a 403.
    gate: frozenset | None = None
    # The answer to a role it is for, on an object in its scope: a status, or a function of
    # the object (a case without an aid plan has none to show).
    ok: int | Callable = 200
    scope: str = "region"  # how "inside" is decided (SCOPES)
    state: str | None = None  # the policy action whose state rule refuses before the role
    body: dict = field(default_factory=dict)  # the empty or invalid body of a write
    fmt: str = "json"
    query: str = ""  # a fixed query string (a read that needs one)
    via_query: str = ""  # the object is named by this query parameter, not in the path


def _write(kind, who, **options) -> Op:
    """A write sent an empty or invalid body: 400 to the role it is for."""
    return Op(kind, who, ok=400, **options)


def _has_aid_plan(case) -> int:
    return 200 if AidPlan.objects.filter(case=case).exists() else 404


# The records of a case (evidence, visits, measures, plans …): read by every people role in
# the region; each recorded by the roles of its policy rule, the case's state judged first.
CASE_RECORDS = {
    # route name: (roles that record it, the policy action whose state applies)
    "case-adjustments": (frozenset({V}), "case.adjustment_propose"),
    "case-appraisals": (frozenset({V}), "case.evidence.identification"),
    "case-consents": (frozenset({V}), "case.evidence.identification"),
    "case-cross-checks": (frozenset({V}), "case.evidence.identification"),
    # Villages record their own visits, townships and counties theirs (乡镇/县级入户核实).
    "case-home-visits": (PEOPLE, None),
    "case-monthly-visits": (frozenset({V}), "case.monthly_visit"),
    "case-notices": (frozenset({V}), "case.evidence.identification"),
    "case-follow-up-visits": (frozenset({V}), "case.follow_up_visit"),
    "case-measures": (REGISTRY_EDITORS, "case.measure"),
}


def _case_records() -> dict:
    routes = {}
    for name, (who, state) in CASE_RECORDS.items():
        fmt = "multipart" if name == "case-consents" else "json"  # a scan is uploaded
        routes[name] = {
            "GET": Op("case_any", PEOPLE),
            "POST": _write("case", who, gate=PEOPLE, state=state, fmt=fmt),
        }
    return routes


API_ROUTES = {
    "me": {"GET": Op(None, EVERYONE)},
    # 统计报表: the figures of the user's region, or of a region inside it (?region=).
    "report-figures": {
        "GET": (
            Op(None, REPORT_READERS),
            Op("region", REPORT_READERS, scope="report", via_query="region"),
        )
    },
    # 三权分立: the auditor alone reads the audit log.
    "audit-event-list": {"GET": Op(None, frozenset({A}))},
    "audit-event-detail": {"GET": Op("audit_event", frozenset({A}), scope="any")},
    # The register (README "Roles and scope": people roles read their region, villages and
    # townships keep it, the county reads it).
    "region-list": {"GET": Op(None, PEOPLE)},
    "region-detail": {"GET": Op("region", PEOPLE)},
    "household-list": {"GET": Op(None, PEOPLE), "POST": _write(None, REGISTRY_EDITORS)},
    "household-detail": {
        "GET": Op("household", PEOPLE),
        "PUT": _write("household", REGISTRY_EDITORS, gate=PEOPLE),
        "PATCH": _write("household", REGISTRY_EDITORS, gate=PEOPLE, body={"kind": "不存在"}),
    },
    "member-list": {"GET": Op(None, PEOPLE), "POST": _write(None, REGISTRY_EDITORS)},
    "member-detail": {
        "GET": Op("member", PEOPLE),
        "PUT": _write("member", REGISTRY_EDITORS, gate=PEOPLE),
        "PATCH": _write("member", REGISTRY_EDITORS, gate=PEOPLE, body={"relation": "不存在"}),
    },
    "member-life-status": {
        "POST": _write("member", REGISTRY_EDITORS, gate=PEOPLE, state="member.life_status")
    },
    "member-reveal": {"POST": _write("member", PEOPLE)},
    "income-record-list": {"GET": Op(None, PEOPLE), "POST": _write(None, REGISTRY_EDITORS)},
    "income-record-detail": {"GET": Op("income_record", PEOPLE)},
    "registry-import-list": {"GET": Op(None, PEOPLE)},
    "registry-import-upload": {"POST": _write(None, REGISTRY_EDITORS, fmt="multipart")},
    # An upload is its uploader's alone.
    "registry-import-detail": {"GET": Op("registry_import", PEOPLE, scope="owner")},
    # 监测范围: reference data; county approvers keep their county's, the administrator any.
    "monitoring-line-list": {"GET": Op(None, READERS), "POST": _write(None, MANAGERS)},
    "monitoring-line-detail": {
        "GET": Op("line", READERS, scope="any"),
        "PUT": _write("line", MANAGERS, scope="manage"),
        "PATCH": _write("line", MANAGERS, scope="manage", body={"amount": "-1"}),
        "DELETE": Op("line", MANAGERS, scope="manage", ok=204),
    },
    # Cases.
    "case-list": {"GET": Op(None, PEOPLE), "POST": _write(None, REGISTRY_EDITORS)},
    "case-notice-list": {
        "GET": Op(None, PEOPLE, query=f"start={TODAY - timedelta(days=90)}&end={TODAY}")
    },
    "case-detail": {
        "GET": Op("case_any", PEOPLE),
        # 修改案例 is the village cadre's, on a case still in village verification.
        "PUT": _write("case", frozenset({V}), gate=PEOPLE, state="case.edit"),
        "PATCH": _write(
            "case", frozenset({V}), gate=PEOPLE, state="case.edit", body={"category": "不存在"}
        ),
    },
    **_case_records(),
    "case-aid-plan": {
        "GET": Op("case_any", PEOPLE, ok=_has_aid_plan),
        # Every field of a plan is optional: the invalid body names an unknown category.
        "PUT": _write(
            "case",
            REGISTRY_EDITORS,
            gate=PEOPLE,
            state="case.aid_plan",
            body={"items": [{"category": "不存在", "description": "无"}]},
        ),
    },
    # Every people role takes some step of the workflow: the step is in the body.
    "case-transitions": {"GET": Op("case_any", PEOPLE), "POST": _write("case", PEOPLE)},
    "case-warnings": {"GET": Op("case_any", PEOPLE)},
    "announcement-list": {"GET": Op(None, PEOPLE)},
    "announcement-detail": {"GET": Op("announcement", PEOPLE)},
    # 县级抽查: drawn by the county approver (no body: answered for real, rolled back).
    "spot-check-list": {"POST": Op(None, frozenset({C}), gate=PEOPLE)},
    # The overdue steps the user's own level answers for.
    "overdue-item-list": {"GET": Op(None, PEOPLE)},
    "overdue-item-detail": {"GET": Op("overdue", PEOPLE, scope="level")},
    # A user's inbox: the messages to their role in their own region.
    "notification-list": {"GET": Op(None, PEOPLE)},
    "notification-detail": {"GET": Op("notification", PEOPLE, scope="inbox")},
    "notification-read": {"POST": Op("notification", PEOPLE, scope="inbox")},
    "measure-list": {"GET": Op(None, PEOPLE)},
    "measure-detail": {
        "GET": Op("measure", PEOPLE),
        "PATCH": _write("measure", REGISTRY_EDITORS, gate=PEOPLE, body={"amount": "-1"}),
    },
    "follow-up-list": {"GET": Op(None, PEOPLE)},
    "follow-up-detail": {"GET": Op("follow_up", PEOPLE)},
    # Department lists: each department's machine account reaches its own batches only.
    "warning-batch-list": {"GET": Op(None, frozenset({D})), "POST": _write(None, frozenset({D}))},
    "warning-batch-detail": {"GET": Op("batch", frozenset({D}), scope="account")},
    "warning-batch-rows": {"GET": Op("batch", frozenset({D}), scope="account")},
    # Clues: read by the people roles of the region; each step by its role, in its state.
    "clue-list": {"GET": Op(None, PEOPLE)},
    "clue-detail": {"GET": Op("clue_any", PEOPLE)},
    "clue-transitions": {"GET": Op("clue_any", PEOPLE)},
    "clue-accept": {"POST": Op("clue", frozenset({T}), gate=PEOPLE, state="clue.accept")},
    "clue-dispatch": {"POST": Op("clue", frozenset({C}), gate=PEOPLE, state="clue.dispatch")},
    "clue-verify": {"POST": _write("clue", frozenset({V}), gate=PEOPLE, state="clue.verify")},
    "clue-reveal-applicant": {"POST": _write("clue", PEOPLE)},
    # 下发批次: the county approver's (`rounds.read`, `round.dispatch`).
    "dispatch-round-list": {"GET": Op(None, frozenset({C}))},
    "dispatch-round-summary": {"GET": Op(None, frozenset({C}))},
    "dispatch-round-detail": {"GET": Op("round", frozenset({C}))},
    "dispatch-round-dispatch": {"POST": Op("round", frozenset({C}), state="round.dispatch")},
    # 数据筛查: run and followed by townships and counties (`screening.run`, `batches.read`).
    "screening-run-list": {"GET": Op(None, REVIEWERS), "POST": Op(None, REVIEWERS, ok=202)},
    "screening-run-detail": {"GET": Op("screening_run", REVIEWERS, scope="run")},
    # The public's own application and its lookup: no sign-in, the empty form is bad input.
    "self-application-list": {"POST": _write(None, PUBLIC)},
    "self-application-lookup-list": {"POST": _write(None, PUBLIC)},
    # Catalogues kept by the administrator.
    "cross-check-item-list": {"GET": Op(None, READERS), "POST": _write(None, frozenset({ADMIN}))},
    "cross-check-item-detail": {
        "GET": Op("cross_check_item", READERS, scope="any"),
        "PATCH": _write(
            "cross_check_item", frozenset({ADMIN}), scope="any", body={"sort_order": -1}
        ),
    },
    "measure-category-list": {"GET": Op(None, READERS), "POST": _write(None, frozenset({ADMIN}))},
    "measure-category-detail": {
        "GET": Op("measure_category", READERS, scope="any"),
        "PATCH": _write("measure_category", frozenset({ADMIN}), scope="any", body={"code": ""}),
    },
    # 本地时限与规则: like the monitoring lines.
    "region-policy-list": {"GET": Op(None, READERS), "POST": _write(None, MANAGERS)},
    "region-policy-effective": {"GET": Op(None, READERS, query=f"region={COUNTY}")},
    "region-policy-detail": {
        "GET": Op("region_policy", READERS, scope="any"),
        "PUT": _write("region_policy", MANAGERS, scope="manage"),
        "PATCH": _write(
            "region_policy", MANAGERS, scope="manage", body={"identification_days": "x"}
        ),
        "DELETE": Op("region_policy", MANAGERS, scope="manage", ok=204),
    },
    # 防贫保险: policies kept by the county (the administrator anywhere) and read by the
    # staff they cover; households enrolled by every people role; claims recorded and paid
    # by townships and counties.
    "insurance-policy-list": {"GET": Op(None, READERS), "POST": _write(None, MANAGERS)},
    "insurance-policy-detail": {
        "GET": Op("insurance_policy", READERS, scope="covering"),
        "PUT": _write("insurance_policy", MANAGERS, scope="manage"),
        "PATCH": _write("insurance_policy", MANAGERS, scope="manage", body={"coverage": "不存在"}),
    },
    # Enrolling every covered household is people's work (`insurance.enrol`).
    "insurance-policy-enrol-all": {"POST": Op("insurance_policy", PEOPLE, scope="covering")},
    "insurance-enrolment-list": {"GET": Op(None, PEOPLE), "POST": _write(None, PEOPLE)},
    "insurance-enrolment-detail": {"GET": Op("enrolment", PEOPLE)},
    "insurance-claim-list": {
        "GET": Op(None, PEOPLE),
        "POST": _write(None, REVIEWERS, gate=PEOPLE),
    },
    "insurance-claim-detail": {"GET": Op("claim", PEOPLE)},
    "insurance-claim-pay": {"POST": _write("claim", REVIEWERS, gate=PEOPLE)},
    # 月报告: figures of the counties inside the user's region (statistics viewers too).
    "monthly-report-list": {"GET": Op(None, REPORT_READERS)},
    "monthly-report-detail": {"GET": Op("monthly_report", REPORT_READERS, scope="report")},
    "monthly-report-xlsx": {"GET": Op("monthly_report", REPORT_READERS, scope="report")},
    # 台账导出: work sheets list people — the people roles', each job its owner's alone.
    "export-list": {"GET": Op(None, PEOPLE), "POST": _write(None, PEOPLE)},
    "export-detail": {"GET": Op("export", PEOPLE, scope="owner")},
    "export-download": {"GET": Op("export", PEOPLE, scope="owner")},
}

# Routes outside the matrix, each with its own test below: the schema, its documentation
# page, the router's index, and the JSON answer to an address that names no endpoint.
OPEN_ROUTES = {"schema", "api-docs", "api-root", "api-not-found"}

# --- what the application still answers otherwise --------------------------------------


@dataclass(frozen=True)
class Known:
    users: frozenset  # the usernames it is seen for
    reason: str  # route, expected, got, and why it matters


# Findings of this matrix not fixed yet, each (route, method) naming the users it is seen
# for, with the reason: route, expected, got, and why it matters. Empty since issue 11 fixed
# the ones it found:
# - the body was validated before the policy was asked (400 where the role is refused, 403,
#   or the state, 409; 400 where another county's record is a 404): views now ask the
#   service's rule first (accounts.permissions.PolicyFirst);
# - the auditor read reference data (三权分立: policy rule `reference.read`);
# - roles without people duties reached exports and enrolment (`report.export`,
#   `insurance.enrol` asked before any object is looked up);
# - village cadres read screening runs (`batches.read`).
KNOWN_WRONG: dict[tuple[str, str], Known] = {}


# --- the objects each kind of path is filled with ----------------------------------------

# The regions of the scenario's users, and the other villages of each township: an object
# of each class answers every user as any other of its class would.
VILLAGE_CLASSES = {
    "630121100201": "东关村",  # cun_dongguan's own
    "630121101201": "向阳村",  # cun_xiangyang's own
    OTHER_VILLAGE: "多巴村",  # the second county's
}


# Where writes meet a case in each state (the others, one case of each class).
STATE_VILLAGES = {"630121100201", OTHER_VILLAGE}


def _village_class(code: str) -> str:
    if code in VILLAGE_CLASSES:
        return code
    return code[:9]  # another village of the same township


@dataclass(frozen=True)
class Kind:
    param: str  # the path parameter it fills
    model: type
    region: Callable  # the 12-digit code of the region the object lies in
    value: Callable = lambda obj: obj.pk


def _village(obj) -> str:
    return obj.village_id


def _household_village(obj) -> str:
    return obj.household.village_id


def _case_village(obj) -> str:
    return obj.case.household.village_id


API_KINDS = {
    "audit_event": Kind("pk", AuditEvent, lambda e: ""),
    "region": Kind("code", Region, lambda r: r.code, value=lambda r: r.code),
    "household": Kind("pk", Household, _village),
    "member": Kind("pk", Member, _household_village),
    "income_record": Kind("pk", IncomeRecord, _household_village),
    "registry_import": Kind("pk", RegistryImport, lambda r: ""),
    "line": Kind("pk", MonitoringLine, lambda line: line.region_id),
    "case": Kind("pk", Case, _household_village),
    "case_any": Kind("pk", Case, _household_village),
    "announcement": Kind("pk", Announcement, _case_village),
    "overdue": Kind("pk", Deadline, _case_village),
    "notification": Kind("pk", Notification, lambda n: n.region_id),
    "measure": Kind("pk", MeasureRecord, _case_village),
    "follow_up": Kind("pk", Case, _household_village),
    "batch": Kind("pk", WarningBatch, lambda b: b.department.region_id),
    "clue": Kind("pk", Clue, _village),
    "clue_any": Kind("pk", Clue, _village),
    "round": Kind("pk", DispatchRound, lambda r: r.county_id),
    "screening_run": Kind("pk", WarningBatch, lambda b: b.scope_prefix),
    "cross_check_item": Kind("pk", CrossCheckItem, lambda i: ""),
    "measure_category": Kind("pk", MeasureCategory, lambda c: ""),
    "region_policy": Kind("pk", RegionPolicy, lambda p: p.region_id),
    "insurance_policy": Kind("pk", InsurancePolicy, lambda p: p.region_id),
    "enrolment": Kind("pk", InsuranceEnrolment, _household_village),
    "claim": Kind("pk", InsuranceClaim, lambda c: c.enrolment.household.village_id),
    "monthly_report": Kind("pk", MonthlyReport, lambda m: m.county_id),
    "export": Kind("pk", ExportJob, lambda j: j.region_id),
}

# The regions named by region routes: the province, both counties, a township of each and
# the villages of the scenario's users.
REGION_CODES = [
    "630000000000",
    COUNTY,
    OTHER_COUNTY,
    "630121100000",
    "630121101000",
    OTHER_TOWNSHIP,
    "630121100201",
    "630121100202",
    "630121101201",
    "630121101202",
    OTHER_VILLAGE,
]


def _per_class(queryset, village, *more) -> list:
    """The first object of each village class (and of each value of `more`)."""
    return _first_per(queryset, lambda obj: (_village_class(village(obj)), *(f(obj) for f in more)))


def _scenario_objects() -> dict:
    """kind → the objects its routes are filled with."""
    cases = Case.objects.select_related("household").order_by("pk")
    # A case still in village verification, one in monitoring and one cleared (the states
    # the records' rules turn on), of each village class.
    case_states = {Status.DRAFT, Status.MONITORING, Status.CLEARED}
    follow_ups = cases.filter(status=Status.CLEARED, follow_up_until__gte=TODAY)
    overdue = Deadline.objects.filter(met_on__isnull=True, due_on__lt=TODAY).select_related(
        "case__household"
    )
    return {
        "audit_event": list(AuditEvent.objects.order_by("pk")[:1]),
        "region": list(Region.objects.filter(code__in=REGION_CODES).order_by("code")),
        "household": _per_class(Household.objects.order_by("pk"), _village),
        "member": _per_class(
            Member.objects.select_related("household").order_by("pk"), _household_village
        ),
        "income_record": _per_class(
            IncomeRecord.objects.select_related("household").order_by("pk"), _household_village
        ),
        "registry_import": _first_per(
            RegistryImport.objects.order_by("pk"), lambda r: r.imported_by_id
        ),
        "line": list(MonitoringLine.objects.order_by("pk")),
        # Writes: a case of each village class, and in the first cadre's village and the
        # second county's every state the records' rules turn on.
        "case": _per_class(
            cases.filter(status__in=case_states),
            _household_village,
            lambda c: c.status if c.household.village_id in STATE_VILLAGES else "",
        ),
        # Reads answer by region alone: a case of each village class.
        "case_any": _per_class(cases, _household_village),
        "announcement": _per_class(
            Announcement.objects.select_related("case__household").order_by("pk"), _case_village
        ),
        "overdue": _per_class(overdue.order_by("pk"), _case_village, lambda d: d.responsible_level),
        "notification": _first_per(
            Notification.objects.order_by("pk"), lambda n: (n.region_id, n.role)
        ),
        "measure": _per_class(
            MeasureRecord.objects.select_related("case__household").order_by("pk"), _case_village
        ),
        "follow_up": _per_class(follow_ups, _household_village),
        "batch": _first_per(
            WarningBatch.objects.filter(source=WarningBatch.Source.DEPARTMENT)
            .defer("payload")
            .select_related("department")
            .order_by("pk"),
            lambda b: b.department_id,
        ),
        "clue": _per_class(Clue.objects.order_by("pk"), _village, lambda c: c.status),
        "clue_any": _per_class(Clue.objects.order_by("pk"), _village),
        "round": _first_per(
            DispatchRound.objects.order_by("pk"),
            lambda r: (r.county_id, r.dispatched_at is None),
        ),
        "screening_run": list(
            WarningBatch.objects.filter(source=WarningBatch.Source.SCREENING)
            .defer("payload")
            .order_by("pk")
        ),
        "cross_check_item": list(CrossCheckItem.objects.order_by("pk")[:1]),
        "measure_category": list(MeasureCategory.objects.order_by("pk")[:1]),
        "region_policy": list(RegionPolicy.objects.order_by("pk")),
        "insurance_policy": list(InsurancePolicy.objects.order_by("pk")),
        "enrolment": _per_class(
            InsuranceEnrolment.objects.select_related("household").order_by("pk"),
            _household_village,
        ),
        "claim": list(InsuranceClaim.objects.select_related("enrolment__household").order_by("pk")),
        "monthly_report": list(MonthlyReport.objects.order_by("pk")),
        "export": list(ExportJob.objects.order_by("created_at")),
    }


# --- inside or outside: who reaches which object ------------------------------------------


def _prefix(code: str | None) -> str | None:
    return None if code is None else Region.prefix_of_code(code)


def _people_prefix(user) -> str | None:
    return _prefix(user.region_id) if user.role in PEOPLE else None


def _inside_region(user, code: str) -> bool:
    prefix = _people_prefix(user)
    return prefix is not None and code.startswith(prefix)


def _managed(user, code: str) -> bool:
    # Administration records: the administrator's anywhere, a county approver's in the county.
    if user.role == ADMIN:
        return True
    return user.role == C and code.startswith(_prefix(user.region_id))


def _covering(user, code: str) -> bool:
    """An insurance policy: its keepers', and people's inside it or under it."""
    if _managed(user, code):
        return True
    prefix = _people_prefix(user)
    return prefix is not None and (
        code.startswith(prefix) or user.region_id.startswith(_prefix(code))
    )


SCOPES = {
    "any": lambda user, obj, code: True,
    "region": lambda user, obj, code: _inside_region(user, code),
    "manage": lambda user, obj, code: _managed(user, code),
    "covering": lambda user, obj, code: _covering(user, code),
    "report": lambda user, obj, code: (
        user.role in REPORT_READERS and code.startswith(_prefix(user.region_id))
    ),
    "owner": lambda user, obj, code: (
        (getattr(obj, "imported_by_id", None) or getattr(obj, "requested_by_id", None)) == user.pk
    ),
    "inbox": lambda user, obj, code: obj.region_id == user.region_id and obj.role == user.role,
    "account": lambda user, obj, code: obj.department.account_id == user.pk,
    "level": lambda user, obj, code: (
        _inside_region(user, code) and obj.responsible_level == ROLE_LEVEL.get(user.role)
    ),
    # A run over the user's region, a part of it or a region containing it: it screens
    # the user's households (and a new run of the user's waits for it).
    "run": lambda user, obj, code: (
        _people_prefix(user) is not None
        and (code.startswith(_people_prefix(user)) or _people_prefix(user).startswith(code))
    ),
}


def _let_in(op: Op, user) -> bool:
    """Does the endpoint let this user in far enough to look the object up?"""
    if op.who == PUBLIC:
        return True
    if user is None:
        return False
    return user.role in (op.gate if op.gate is not None else op.who)


def expected(op: Op, user, obj) -> frozenset:
    """The answers allowed: one, but where the role does not take the action and the
    object's state refuses it too. The user reads that object, so which refusal comes first
    tells nothing: README's policy order says the state, an endpoint's own role guard the
    role; either is right."""
    if op.who == PUBLIC:
        return frozenset({op.ok})
    if user is None:
        return frozenset({401})
    if not _let_in(op, user):
        return frozenset({403})
    if obj is not None and not SCOPES[op.scope](user, obj, API_KINDS[op.kind].region(obj)):
        return frozenset({404})
    refusal = None
    if op.state is not None and obj is not None:
        rule = rule_for(op.state)
        if rule.state(obj):
            refusal = rule.state_status
    if user.role not in op.who:
        return frozenset({403} if refusal is None else {403, refusal})
    if refusal is not None:
        return frozenset({refusal})
    return frozenset({op.ok(obj) if callable(op.ok) else op.ok})


# --- the routes of the resolver ----------------------------------------------------------


WRITE_AND_READ = ("get", "post", "put", "patch", "delete")


def api_routes() -> dict:
    """name → (pattern, path parameters, methods) of every route under api/; a route that
    answers with a format suffix too is listed once, without it."""
    found = {}

    def walk(patterns, prefix: str, params: frozenset):
        for entry in patterns:
            pattern = prefix + str(entry.pattern)
            names = params | set(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, pattern, names)
                continue
            if not pattern.startswith(("api/", "^api/")) or "format" in names:
                continue
            callback = entry.callback
            view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            # HEAD and OPTIONS follow GET and the others by themselves.
            offered = set(getattr(view, "http_method_names", ())) & set(WRITE_AND_READ)
            actions = getattr(callback, "actions", None)
            if actions is not None:
                methods = {m.upper() for m in actions if m in offered}
            elif view is not None:
                methods = {m.upper() for m in offered if hasattr(view, m)}
            else:
                methods = set()
            found[entry.name or pattern] = (pattern, names - {"format"}, methods)

    walk(get_resolver().url_patterns, "", frozenset())
    return found


def _ops(name: str) -> list[tuple[str, Op]]:
    return [
        (method, op)
        for method, ops in API_ROUTES[name].items()
        for op in (ops if isinstance(ops, tuple) else (ops,))
    ]


def test_the_table_knows_every_api_route():
    found = api_routes()
    unknown = sorted(set(found) - set(API_ROUTES) - OPEN_ROUTES)
    assert not unknown, (
        "new API route(s) the matrix does not know: "
        + ", ".join(f"{name} ({found[name][0]})" for name in unknown)
        + " — add each to API_ROUTES with the kind of object its path names and who it is for"
    )
    stale = sorted((set(API_ROUTES) | OPEN_ROUTES) - set(found))
    assert not stale, f"API_ROUTES lists routes that no longer exist: {stale}"
    for (name, method), known in KNOWN_WRONG.items():
        assert method in API_ROUTES.get(name, {}), f"KNOWN_WRONG names no route {name} {method}"
        assert known.users <= set(USERNAMES), f"KNOWN_WRONG {name}: {known.users - set(USERNAMES)}"
    for name, (pattern, params, methods) in found.items():
        if name in OPEN_ROUTES:
            continue
        listed = {method for method, _ in _ops(name)}
        assert listed == methods, (
            f"{name} ({pattern}) answers {sorted(methods)}; the table lists {sorted(listed)}"
        )
        for method, op in _ops(name):
            fills = {API_KINDS[op.kind].param} if op.kind and not op.via_query else set()
            assert params == fills, (
                f"{name} {method} ({pattern}) has path parameters {sorted(params)}; the table "
                f"fills {sorted(fills)} — give it the right kind in API_ROUTES"
            )


# --- the scenario's clients and objects ----------------------------------------------------


@dataclass(repr=False)
class Matrix:
    users: dict
    keys: dict  # department account's username → its API key
    objects: dict  # kind → objects


@pytest.fixture(scope="module")
def matrix(demo, django_db_blocker):  # noqa: F811 — the imported fixture
    """The page matrix's scenario, a key for each department's machine account, and a
    screening run of a township and of the second county (finished: a new run may start)."""
    with django_db_blocker.unblock():
        keys = {}
        for username in USERNAMES:
            user = User.objects.get(pk=demo.users[username].pk)
            if user.role != D:
                continue
            if user.grant_pending:
                # Made by the administrator, the machine account waits for a second person:
                # the county approver of its county confirms it.
                department = Department.objects.get(account=user)
                approver = User.objects.get(role=C, region=department.region)
                department_account_confirm(by=approver, department=department)
            keys[username] = ApiToken.issue(user=user, name="授权矩阵")[1]
        users = {username: User.objects.get(pk=demo.users[username].pk) for username in USERNAMES}
        for prefix in ("630121100", OTHER_COUNTY[:6]):
            run = screening_queue(scope_prefix=prefix)
            WarningBatch.objects.filter(pk=run.pk).update(status=BatchStatus.DONE)
        return Matrix(users=users, keys=keys, objects=_scenario_objects())


def client_for(matrix: Matrix, username: str | None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if username is None:
        return client
    user = matrix.users[username]
    if user.role == D:
        # A machine client: its key, never a session (issue 11, finding 4).
        client.credentials(HTTP_AUTHORIZATION=f"Token {matrix.keys[username]}")
    else:
        client.force_login(user)
    return client


def _url(name: str, op: Op, obj) -> str:
    if obj is None or op.via_query:
        url = reverse(name)
        query = [op.query] if op.query else []
        if obj is not None:
            query.append(f"{op.via_query}={API_KINDS[op.kind].value(obj)}")
        return url + ("?" + "&".join(query) if query else "")
    kind = API_KINDS[op.kind]
    url = reverse(name, kwargs={kind.param: kind.value(obj)})
    return url + (f"?{op.query}" if op.query else "")


def send(client: APIClient, method: str, url: str, op: Op):
    """One request, inside a savepoint rolled back at once: a write the matrix expects to
    be refused leaves nothing behind even if it is not, and a database error in it cannot
    spoil the requests after it."""
    with transaction.atomic():
        if method == "GET":
            response = client.get(url)
        else:
            response = getattr(client, method.lower())(url, op.body, format=op.fmt)
        if response.streaming:  # a download: read to the end, which closes the file
            b"".join(response.streaming_content)
        transaction.set_rollback(True)
    return response


def _table(rows) -> str:
    lines = [f"{'method':<7} {'url':<64} expected  got"]
    lines += [
        f"{method:<7} {url:<64} {'/'.join(map(str, sorted(want))):<9} {got}"
        for method, url, want, got in rows
    ]
    return "\n".join(lines)


def _cases():
    """(username, route, method) for every user (and nobody) and every route and method;
    the ones KNOWN_WRONG lists are strict xfails."""
    for username in [None, *USERNAMES]:
        for name in API_ROUTES:
            for method in API_ROUTES[name]:
                known = KNOWN_WRONG.get((name, method))
                marks = []
                if known is not None and username in known.users:
                    marks = [pytest.mark.xfail(strict=True, reason=known.reason)]
                yield pytest.param(
                    username,
                    name,
                    method,
                    marks=marks,
                    id=f"{username or 'anonymous'}-{name}-{method}",
                )


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "name", "method"), list(_cases()))
def test_every_api_endpoint_answers_each_role_as_the_rules_say(
    username,
    name,
    method,
    matrix,
    demo_media,  # noqa: F811 — the imported fixture
):
    client = client_for(matrix, username)
    user = matrix.users[username] if username else None
    wrong, server_errors = [], []
    for op in (op for m, op in _ops(name) if m == method):
        objects = matrix.objects[op.kind] if op.kind else [None]
        assert objects, f"the scenario has no {op.kind} to fill {name} with"
        if not _let_in(op, user):
            # Refused before any object is looked up: the first and the last will do.
            objects = objects[:1] + objects[1:][-1:]
        for obj in objects:
            url = _url(name, op, obj)
            response = send(client, method, url, op)
            want = expected(op, user, obj)
            row = (method, url, want, response.status_code)
            if response.status_code >= 500:
                server_errors.append(row)
            elif response.status_code not in want:
                wrong.append(row)
    assert not server_errors, "server errors:\n" + _table(server_errors)
    assert not wrong, f"{username or 'anonymous'} was answered otherwise:\n" + _table(wrong)


@pytest.mark.django_db
def test_the_scenario_gives_every_role_objects_inside_and_outside_its_region(matrix):
    """The matrix is only worth its name if each people role meets both answers on the
    objects of its region: some 200 and some 404."""
    for username in USERNAMES:
        user = matrix.users[username]
        answers = {
            status
            for name in API_ROUTES
            for method, op in _ops(name)
            if method == "GET" and op.kind
            for obj in matrix.objects[op.kind]
            for status in expected(op, user, obj)
        }
        if user.role in PEOPLE:
            assert {200, 404} <= answers, username
    # Every role of README's table, and each people role in both counties.
    roles = {matrix.users[username].role for username in USERNAMES}
    assert roles == set(Role)
    for role in PEOPLE:
        counties = {
            matrix.users[username].region_id[:6]
            for username in USERNAMES
            if matrix.users[username].role == role
        }
        assert counties == {COUNTY[:6], OTHER_COUNTY[:6]}, role


# --- the routes outside the matrix --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("username", [None, "cun_dongguan", SECOND_DEPARTMENT])
def test_the_schema_is_open_to_anyone(username, matrix):
    """The OpenAPI schema describes the interface, no data: served signed in or not (by a
    session or a key). Drawn up anew each time, it is asked for by three clients only."""
    assert client_for(matrix, username).get(reverse("schema")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("username", [None, *USERNAMES])
def test_the_documentation_is_open_and_the_index_needs_a_sign_in(username, matrix):
    """Swagger UI is served to anyone like the schema it shows; the router's index lists the
    endpoints to signed-in clients only; an address that names no endpoint is a 404 in
    JSON, signed in or not."""
    client = client_for(matrix, username)
    assert client.get(reverse("api-docs")).status_code == 200
    assert client.get(reverse("api-root")).status_code == (401 if username is None else 200)
    missing = client.get("/api/no-such-endpoint/")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/json")
