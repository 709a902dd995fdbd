"""Every page, every role: a generated test over the URL list and the demo's objects.

The page routes are read from the URL resolver and filled with objects of the demo county
(大通县, `manage.py load_demo`) and of a second county (湟中区, 630122) made here through
the services. Every demo user and every user of the second county opens every address
(GET, no redirects followed). No page may answer a server error, and each answers exactly
what the rules of roles and scope say (README, "Roles and scope"; accounts/policy.py):

* a people page (cases, households, clues, batches …): 403 to a role without people duties,
  404 when the object lies outside the user's region, 200 inside it (or 403 to a role the
  page's action is not for, 302 where a page sends a role on by design);
* an administration record (department, key, threshold, monitoring line): the county
  approver inside its county, the administrator anywhere, 403 to everyone else;
* a POST-only address opened with GET: 405, once past the page's guard.

A new route fails `test_the_table_knows_every_page_route` until it is added to ROUTES with
the kind of object its path names, so the test grows with the URL list.

The demo is loaded once for the module, inside a transaction rolled back at the end: no
other test module sees it."""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.models import ApiToken, User
from accounts.policy import region_code_of
from households.choices import PREFIX_LENGTH, RegionLevel
from households.importing import registry_import
from households.models import Household, MonitoringLine, Region, RegistryImport
from households.services import monitoring_line_save, region_create_or_update
from interventions.insurance import insurance_claim_record, insurance_enrol, insurance_policy_save
from interventions.models import (
    InsuranceClaim,
    InsuranceCoverage,
    InsuranceEnrolment,
    InsurancePolicy,
    MeasureCategory,
    MeasureRecord,
)
from interventions.services import measure_record_create
from monitor.administration import (
    department_account_confirm,
    department_create,
    department_key_issue,
    threshold_save,
)
from monitor.choices import Category, Channel
from monitor.feeds.applications import self_application_submit
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.models import (
    Case,
    Clue,
    Consent,
    Department,
    DispatchRound,
    ExportJob,
    MonthlyReport,
    Notification,
    RegionPolicy,
    ScreeningThreshold,
    WarningBatch,
)
from monitor.models.feeds import DepartmentKind
from monitor.regional import region_policy_save
from monitor.reports.exports import export_request, export_run
from monitor.reports.monthly import monthly_report_generate
from monitor.services import case_create, consent_record
from tests.conftest import COUNTY, OTHER_COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE, PDF
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

V, T, C, D, A, ADMIN, S = (
    Role.VILLAGE_CADRE,
    Role.TOWNSHIP_REVIEWER,
    Role.COUNTY_APPROVER,
    Role.DEPARTMENT,
    Role.AUDITOR,
    Role.ADMIN,
    Role.STATISTICS_VIEWER,
)
EVERYONE = frozenset(Role)
PEOPLE = frozenset({V, T, C})
REPORT_READERS = PEOPLE | {S}
REVIEWERS = frozenset({T, C})
REGISTRY_EDITORS = frozenset({V, T})
MANAGERS = frozenset({C, ADMIN})
COUNTY_DIGITS = PREFIX_LENGTH[RegionLevel.COUNTY]

# --- the table: route → the object its path names and who may open it -----------------


@dataclass(frozen=True)
class Route:
    kind: str | None  # the object in the address (KINDS), None for a page without one
    who: frozenset  # the roles the page's guard lets in (the others: 403)
    post_only: bool = False  # GET is a 405 once past the guard …
    method_first: bool = False  # … or before it
    query: str = ""  # the object is named in the query string (?household=…), not the path
    redirects: frozenset = frozenset()  # roles sent on (302) by design instead of shown it
    refused: frozenset = frozenset()  # roles refused the page's action (403) once it is found
    fixed: tuple = ()  # path parameters with a fixed value: (name, value) pairs


ROUTES = {
    # Open to every signed-in user; the people on them are those of the user's region (none
    # for a role without people duties: the household list tells them so with a 200, which
    # tests/accounts/test_login_and_pages.py pins, where the README promises a 403).
    "home": Route(None, EVERYONE),
    "password-change": Route(None, EVERYONE),
    # The second factor: the roles that sign in with one (no app enrolled in the demo, so
    # the code page sends them on to enrolment); the others are told they do not.
    "second-factor-page": Route(None, MANAGERS, redirects=MANAGERS),
    "second-factor-enrol-page": Route(None, MANAGERS),
    # 双人复核: the grants waiting for the county approver or a second administrator.
    "grant-list-page": Route(None, MANAGERS),
    "self-application": Route(None, EVERYONE),  # public: the farmers' own application
    "apply-lookup": Route(None, EVERYONE),  # public: the applicant's lookup of the result
    "notice-list-page": Route(None, EVERYONE),
    "household-list-page": Route(None, EVERYONE),
    # People pages (config.pages.people_page).
    "notifications-page": Route(None, PEOPLE),
    "notification-read-page": Route("notification", PEOPLE, post_only=True),
    "case-list-page": Route(None, PEOPLE),
    # The county approver does not file cases: sent back to the household with the reason.
    "case-new-page": Route("household", PEOPLE, query="household", redirects=frozenset({C})),
    "case-page": Route("case", PEOPLE),
    # Says on the page when the case cannot be corrected now (its state or the role).
    "case-edit-page": Route("case", PEOPLE),
    "case-transition-page": Route("case", PEOPLE, post_only=True),
    "case-evidence-page": Route(
        "case",
        PEOPLE,
        post_only=True,
        fixed=(("stage", "identification"), ("kind", "home_visit")),
    ),
    "case-monthly-visit-page": Route("case", PEOPLE, post_only=True),
    "case-official-visit-page": Route("case", PEOPLE, post_only=True),
    "consent-scan-page": Route("consent", PEOPLE),
    "case-aid-page": Route("case", PEOPLE),
    "case-aid-plan-page": Route("case", PEOPLE, post_only=True),
    "case-measure-new-page": Route("case", PEOPLE, post_only=True),
    "measure-edit-page": Route("measure", PEOPLE),
    "case-clearance-page": Route("case", PEOPLE),
    "case-adjustment-page": Route("case", PEOPLE, post_only=True),
    "review-page": Route(None, REVIEWERS),
    "review-batch-page": Route(None, PEOPLE, post_only=True),
    "spot-check-draw-page": Route(None, PEOPLE, post_only=True),
    "household-page": Route("household", PEOPLE),
    # The county approver reads the register, it does not keep it.
    "household-income-page": Route("household", PEOPLE, refused=frozenset({C})),
    "registry-import-page": Route(None, REGISTRY_EDITORS),
    "registry-import-result-page": Route("registry_import", REGISTRY_EDITORS),
    "member-reveal-page": Route("member", PEOPLE),
    # The county approver reads the register, it does not keep it (成员状态 included).
    "member-life-status-page": Route("member", PEOPLE, refused=frozenset({C})),
    "clue-list-page": Route(None, PEOPLE),
    "clue-page": Route("clue", PEOPLE),
    "clue-verify-page": Route("clue", PEOPLE, post_only=True),
    "clue-accept-page": Route("clue", PEOPLE, post_only=True),
    "clue-dispatch-page": Route("clue", PEOPLE, post_only=True),
    "clue-reveal-applicant-page": Route("clue", PEOPLE, post_only=True),
    "batch-list-page": Route(None, REVIEWERS),
    "batch-page": Route("batch", REVIEWERS),
    "batch-status-page": Route("batch", REVIEWERS),
    "screening-run-page": Route(None, REVIEWERS, post_only=True),
    # 下发批次: the county's (a round of another county is a 404 to its approver).
    "round-list-page": Route(None, frozenset({C})),
    "round-page": Route("round", frozenset({C})),
    "round-dispatch-page": Route("round", frozenset({C}), post_only=True),
    # Administration (/manage/).
    "manage-home": Route(None, MANAGERS),
    "department-list-page": Route(None, MANAGERS),
    "department-page": Route("department", MANAGERS),
    # require_POST wraps the guard here: every signed-in GET is a 405.
    "department-key-issue-page": Route("department", MANAGERS, post_only=True, method_first=True),
    "department-key-revoke-page": Route("key", MANAGERS),
    "threshold-list-page": Route(None, MANAGERS),
    "threshold-page": Route("threshold", MANAGERS),
    "threshold-delete-page": Route("threshold", MANAGERS),
    "line-list-page": Route(None, MANAGERS),
    "line-page": Route("line", MANAGERS),
    "line-delete-page": Route("line", MANAGERS),
    # The measure catalogue is the administrator's alone.
    "measure-category-list-page": Route(None, frozenset({ADMIN})),
    "region-policy-list-page": Route(None, MANAGERS),
    "region-policy-page": Route("region_policy", MANAGERS),
    "region-policy-delete-page": Route("region_policy", MANAGERS),
    "insurance-policy-list-page": Route(None, MANAGERS),
    "insurance-policy-page": Route("insurance_policy", MANAGERS),
    "insurance-policy-enrol-page": Route(
        "insurance_policy", MANAGERS, post_only=True, method_first=True
    ),
    # 消除后跟踪 and 防贫保险 of a household: enrolment is every people role's, claims and
    # payments the township's and the county's.
    "follow-up-list-page": Route(None, PEOPLE),
    "case-follow-up-visit-page": Route("case", PEOPLE, post_only=True),
    "household-insurance-enrol-page": Route("household", PEOPLE),
    "household-insurance-claim-page": Route("household", PEOPLE, refused=frozenset({V})),
    "insurance-claim-pay-page": Route("claim", PEOPLE, refused=frozenset({V})),
    # 统计报表: figures of the user's region and below (statistics viewers included); the
    # work sheets list people, so they are the people roles', each job its owner's alone.
    "report-home-page": Route(None, REPORT_READERS, redirects=REPORT_READERS),
    "report-page": Route("report_region", REPORT_READERS),
    "monthly-report-list-page": Route(None, REPORT_READERS),
    "monthly-report-page": Route("monthly_report", REPORT_READERS),
    "monthly-report-xlsx-page": Route("monthly_report", REPORT_READERS),
    "export-list-page": Route(None, PEOPLE),
    "export-page": Route("export", PEOPLE),
    "export-download-page": Route("export", PEOPLE),
}
SKIPPED = {"login", "logout"}  # and everything under api/ and admin/


# --- the objects each kind of route is filled with -------------------------------------


@dataclass
class Objects:
    cases: list = field(default_factory=list)
    households: list = field(default_factory=list)
    clues: list = field(default_factory=list)
    consents: list = field(default_factory=list)
    measures: list = field(default_factory=list)
    batches: list = field(default_factory=list)
    departments: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    thresholds: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    notifications: list = field(default_factory=list)
    imports: list = field(default_factory=list)
    region_policies: list = field(default_factory=list)
    rounds: list = field(default_factory=list)
    insurance_policies: list = field(default_factory=list)
    claims: list = field(default_factory=list)
    report_regions: list = field(default_factory=list)
    monthly_reports: list = field(default_factory=list)
    exports: list = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    params: tuple  # the path parameters it fills, in order
    # The objects of a kind: (parameter values, the object whose region decides).
    pick: Callable[[Objects], list]


def _heads(households):
    return [(h, h.members.order_by("relation", "id").first()) for h in households]


KINDS = {
    "case": Kind(("pk",), lambda o: [((c.pk,), c) for c in o.cases]),
    "household": Kind(("pk",), lambda o: [((h.pk,), h) for h in o.households]),
    "member": Kind(
        ("pk", "member_pk"), lambda o: [((h.pk, m.pk), h) for h, m in _heads(o.households)]
    ),
    "consent": Kind(
        ("pk", "consent_pk"), lambda o: [((c.case_id, c.pk), c.case) for c in o.consents]
    ),
    "measure": Kind(("pk",), lambda o: [((m.pk,), m) for m in o.measures]),
    "clue": Kind(("pk",), lambda o: [((c.pk,), c) for c in o.clues]),
    # A department's list is followed by the whole county of the department.
    "batch": Kind(("pk",), lambda o: [((b.pk,), b.department) for b in o.batches]),
    "department": Kind(("pk",), lambda o: [((d.pk,), d) for d in o.departments]),
    "key": Kind(("pk", "key_pk"), lambda o: [((d.pk, t.pk), d) for d, t in o.keys]),
    "threshold": Kind(("pk",), lambda o: [((t.pk,), t) for t in o.thresholds]),
    "line": Kind(("pk",), lambda o: [((line.pk,), line) for line in o.lines]),
    "notification": Kind(("pk",), lambda o: [((n.pk,), n) for n in o.notifications]),
    "registry_import": Kind(("pk",), lambda o: [((r.pk,), r) for r in o.imports]),
    "region_policy": Kind(("pk",), lambda o: [((r.pk,), r) for r in o.region_policies]),
    "insurance_policy": Kind(("pk",), lambda o: [((p.pk,), p) for p in o.insurance_policies]),
    "claim": Kind(("pk",), lambda o: [((c.pk,), c.enrolment.household) for c in o.claims]),
    "round": Kind(("pk",), lambda o: [((r.pk,), r) for r in o.rounds]),
    "report_region": Kind(("code",), lambda o: [((r.code,), r) for r in o.report_regions]),
    "monthly_report": Kind(("pk",), lambda o: [((m.pk,), m.county) for m in o.monthly_reports]),
    "export": Kind(("pk",), lambda o: [((j.pk,), j) for j in o.exports]),
}


def path_params(route: Route) -> set:
    kind = KINDS[route.kind].params if route.kind and not route.query else ()
    return {*kind, *dict(route.fixed)}


# --- what each user must get -------------------------------------------------------------


def inside(user, route: Route, scope) -> bool:
    """Does the object lie in the user's region (for a batch: in the user's county; an
    upload is its uploader's alone)?"""
    if route.kind == "registry_import":
        return scope.imported_by_id == user.pk
    if route.kind == "export":
        return scope.requested_by_id == user.pk
    if user.role == ADMIN:  # reaches only administration records, which it manages anywhere
        return True
    prefix = Region.prefix_of_code(user.region_id)
    code = region_code_of(scope)
    if route.kind == "batch":
        return code[:COUNTY_DIGITS] == prefix[:COUNTY_DIGITS]
    return code.startswith(prefix)


def expected(route: Route, user, scope) -> int:
    if route.post_only and route.method_first:
        return 405
    if user.role not in route.who:
        return 403
    if route.post_only:
        return 405
    if scope is not None and not inside(user, route, scope):
        return 404
    if user.role in route.refused:
        return 403
    if user.role in route.redirects:
        return 302
    return 200


# --- the routes of the resolver ----------------------------------------------------------


def page_routes() -> dict:
    """name → (pattern, path parameters) of every route but the API, the admin site and
    sign-in/sign-out. An unnamed route is listed under its pattern."""
    found = {}

    def walk(patterns, prefix: str, params: frozenset):
        for entry in patterns:
            pattern = prefix + str(entry.pattern)
            if pattern.startswith(("api/", "admin/", "^api/", "^admin/")):
                continue
            names = params | set(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, pattern, names)
            elif entry.name not in SKIPPED:
                found[entry.name or pattern] = (pattern, names)

    walk(get_resolver().url_patterns, "", frozenset())
    return found


def test_the_table_knows_every_page_route():
    found = page_routes()
    unknown = sorted(f"{name} ({found[name][0]})" for name in set(found) - set(ROUTES))
    assert not unknown, (
        "new page route(s) the test does not know how to fill: "
        + ", ".join(unknown)
        + " — add each to ROUTES with the kind of object its parameters name (KINDS)"
    )
    stale = sorted(set(ROUTES) - set(found))
    assert not stale, f"ROUTES lists routes that no longer exist: {stale}"
    for name, (pattern, params) in found.items():
        fills = path_params(ROUTES[name])
        assert params == fills, (
            f"{name} ({pattern}) has path parameters {sorted(params)}; the table fills "
            f"{sorted(fills)} — give it the right kind in ROUTES, or a new kind in KINDS"
        )


def addresses(objects: Objects) -> list:
    """Every page address of the demo: (route, url, the object whose region decides)."""
    found = page_routes()
    out = []
    for name in sorted(set(found) & set(ROUTES)):  # the others fail the test above
        route = ROUTES[name]
        if route.kind is None:
            out.append((route, reverse(name), None))
            continue
        picked = KINDS[route.kind].pick(objects)
        assert picked, f"the demo has no {route.kind} to fill {name} with"
        for values, scope in picked:
            if route.query:
                url = f"{reverse(name, kwargs=dict(route.fixed))}?{route.query}={values[0]}"
            else:
                kwargs = dict(zip(KINDS[route.kind].params, values, strict=True))
                url = reverse(name, kwargs={**kwargs, **dict(route.fixed)})
            out.append((route, url, scope))
    return out


# --- the scenario: the demo county and one of everything in a second county --------------

SECOND_COUNTY_USERS = [
    # username, role, region
    ("cun_duoba", V, OTHER_VILLAGE),
    ("zhen_duoba", T, OTHER_TOWNSHIP),
    ("xian_huangzhong", C, OTHER_COUNTY),
]
SECOND_DEPARTMENT = "湟中区医疗保障局"  # its machine account's name is generated
PROVINCE_VIEWER = ("tongji_qinghai", S, "630000000000")  # the province's statistics office
USERNAMES = [
    "cun_dongguan",
    "cun_xiangyang",
    "zhen_qiaotou",
    "xian_datong",
    "bumen_yibao",
    "shenji",
    "admin",
    *(username for username, _, _ in SECOND_COUNTY_USERS),
    SECOND_DEPARTMENT,
    PROVINCE_VIEWER[0],
]


def _second_county(today: date) -> None:
    """One of each kind of object in 湟中区 多巴村, made through the services."""
    for code, name in (
        (OTHER_COUNTY, "湟中区"),
        (OTHER_TOWNSHIP, "多巴镇"),
        (OTHER_VILLAGE, "多巴村"),
    ):
        region_create_or_update(code=code, name=name)
    for username, role, region in [*SECOND_COUNTY_USERS, PROVINCE_VIEWER]:
        User.objects.create_user(
            username=username, password=None, role=role, region_id=region, first_name=username
        )
    cadre, admin = User.objects.get(username="cun_duoba"), User.objects.get(username="admin")
    people = {}
    for sequence, name in ((730, "钱七宝"), (732, "孙八斗")):
        household = HouseholdFactory(village_id=OTHER_VILLAGE)
        number = make_id_number(region="630122", birth=date(1975, 1, 2), sequence=sequence)
        MemberFactory(household=household, name=name, relation="head", id_number=number)
        people[name] = (household, number)
    found = today - timedelta(days=10)
    case = case_create(
        household=people["钱七宝"][0],
        category=Category.SUDDEN,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["0201"],
        found_on=found,
        by=cadre,
        green_channel=True,
        description="洪涝冲毁住房",
        today=found,
    )
    consent_record(case=case, by=cadre, signed_on=found, scan=ContentFile(PDF, name="consent.pdf"))
    measure_record_create(
        case=case,
        by=cadre,
        category=MeasureCategory.objects.get(code="health"),
        description="医疗救助",
        department=SECOND_DEPARTMENT,
        start_on=found + timedelta(days=1),
    )
    county = Region.objects.get(code=OTHER_COUNTY)
    department = department_create(
        by=admin, name=SECOND_DEPARTMENT, kind=DepartmentKind.MEDICAL_INSURANCE, region=county
    )
    # 双人复核: the machine account the administrator made waits for the county's approver.
    second = User.objects.get(username="xian_huangzhong")
    department_account_confirm(by=second, department=department)
    department_key_issue(by=admin, department=department, name="每月推送")
    received = receive_json(
        department=department,
        batch_key="湟中-医保-2026-11",
        rows=[{"姓名": "孙八斗", "身份证号": people["孙八斗"][1], "预警类型": "高额医疗自付"}],
    )
    assert process_batch(received.batch.pk) == "done"
    self_application_submit(
        name="周九如",
        phone="13912345678",
        id_number=make_id_number(region="630122", birth=date(1980, 3, 4), sequence=740),
        difficulty="看病花费大，家里缺劳力",
        village=OTHER_VILLAGE,
        risk_type="01",
    )
    registry_import(
        data="户编号,村代码,户类型,住址\n63012210020100009,630122100201,一般农户,多巴村1社\n".encode(),
        filename="households.csv",
        by=cadre,
        scope_prefix=Region.prefix_of_code(OTHER_VILLAGE),
        kind=RegistryImport.Kind.HOUSEHOLDS,
    )
    # A threshold and a monitoring line of each county, so both county approvers have one
    # inside their county and one outside.
    for code in (COUNTY, OTHER_COUNTY):
        region = Region.objects.get(code=code)
        threshold_save(
            by=admin, region=region, year=today.year, medical_expense_over=Decimal("26000")
        )
        monitoring_line_save(by=admin, region=region, year=today.year, amount=Decimal("8000"))
        region_policy_save(by=admin, region=region, year=today.year, identification_days=12)
    # 防贫保险 of the second county, a household enrolled and a claim recorded.
    insurance = insurance_policy_save(
        by=admin,
        region=Region.objects.get(code=OTHER_COUNTY),
        year=today.year,
        insurer="湟中区防贫保险承保机构",
        coverage=InsuranceCoverage.ALL_RURAL,
        trigger_line=Decimal("8000"),
    )
    # Last month's report of each county, and a ledger export by a user of each county.
    for code in (COUNTY, OTHER_COUNTY):
        monthly_report_generate(
            county=Region.objects.get(code=code), month=(today.replace(day=1) - timedelta(1))
        )
    for username, code in (("xian_datong", COUNTY), ("cun_duoba", OTHER_VILLAGE)):
        job = export_request(
            by=User.objects.get(username=username),
            kind="ledger",
            region=Region.objects.get(code=code),
            as_of=today,
        )
        # The job is queued on commit, which this module's transaction never reaches.
        export_run(job.pk)
    township = User.objects.get(username="zhen_duoba")
    insurance_enrol(policy=insurance, by=township, household=people["孙八斗"][0])
    insurance_claim_record(
        enrolment=InsuranceEnrolment.objects.get(policy=insurance),
        by=township,
        claimed_on=today,
        reason="因病医疗自付后收入低于触发线",
    )


def _first_per(objects, key) -> list:
    chosen = {}
    for obj in objects:
        chosen.setdefault(key(obj), obj)
    return list(chosen.values())


def _objects() -> Objects:
    """Every case, consent, measure, batch, department and administration record; a clue
    per village and state; the households of the cases and one of every village; an upload
    per uploader and a notification per region."""
    # One case per village and state (the demo's two years of history hold many more, and
    # the pages of a case answer by its region and state, not by which case it is).
    cases = _first_per(
        Case.objects.select_related("household").order_by("pk"),
        lambda c: (c.village_id, c.status),
    )
    shown = {case.pk for case in cases}
    households = [case.household for case in cases] + _first_per(
        Household.objects.order_by("pk"), lambda h: h.village_id
    )
    departments = list(Department.objects.order_by("pk"))
    return Objects(
        cases=cases,
        households=_first_per(households, lambda h: h.pk),
        clues=_first_per(Clue.objects.order_by("pk"), lambda c: (c.village_id, c.status)),
        consents=list(
            Consent.objects.select_related("case__household").filter(case__in=shown).order_by("pk")
        ),
        measures=_first_per(
            MeasureRecord.objects.select_related("case__household").order_by("pk"),
            lambda m: (m.case.village_id, m.status),
        ),
        batches=list(WarningBatch.objects.defer("payload").select_related("department")),
        departments=departments,
        keys=[
            (department, token)
            for department in departments
            for token in ApiToken.objects.filter(user=department.account_id).order_by("pk")
        ],
        thresholds=list(ScreeningThreshold.objects.order_by("pk")),
        lines=list(MonitoringLine.objects.order_by("pk")),
        notifications=_first_per(Notification.objects.order_by("pk"), lambda n: n.region_id),
        imports=_first_per(RegistryImport.objects.order_by("pk"), lambda r: r.imported_by_id),
        region_policies=list(RegionPolicy.objects.order_by("pk")),
        insurance_policies=list(InsurancePolicy.objects.order_by("pk")),
        claims=list(InsuranceClaim.objects.select_related("enrolment__household").order_by("pk")),
        rounds=list(DispatchRound.objects.order_by("pk")),
        # The province, each county, and a township and a village of each.
        report_regions=_first_per(Region.objects.order_by("code"), lambda r: (r.level, r.code[:6])),
        monthly_reports=list(MonthlyReport.objects.select_related("county").order_by("pk")),
        exports=list(ExportJob.objects.order_by("created_at")),
    )


@dataclass(repr=False)  # a failure report shows the table, not every user and address
class Demo:
    users: dict
    addresses: list
    media: object


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo county and the second county, loaded once for this module and rolled back
    after it."""
    var = tmp_path_factory.mktemp("demo-var")
    with (
        override_settings(VAR_DIR=var, MEDIA_ROOT=var / "media"),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        try:
            call_command("load_demo", stdout=io.StringIO())
            _second_county(timezone.localdate())
            users = {user.username: user for user in User.objects.all()}
            users[SECOND_DEPARTMENT] = Department.objects.get(name=SECOND_DEPARTMENT).account
            yield Demo(users=users, addresses=addresses(_objects()), media=var / "media")
        finally:
            transaction.set_rollback(True)


@pytest.fixture
def demo_media(demo, settings):
    """The consent scans the demo stored (the shared fixture points each test elsewhere)."""
    settings.MEDIA_ROOT = demo.media


def _table(rows) -> str:
    lines = [f"{'user':<18} {'url':<52} expected  got"]
    lines += [f"{user:<18} {url:<52} {want:<9} {got}" for user, url, want, got in rows]
    return "\n".join(lines)


@pytest.mark.django_db
@pytest.mark.parametrize("username", USERNAMES)
def test_every_page_answers_each_role_as_the_rules_say(username, demo, demo_media):
    user = demo.users[username]
    client = Client(raise_request_exception=False)
    client.force_login(user)
    wrong, server_errors = [], []
    for route, url, scope in demo.addresses:
        response = client.get(url)
        if response.streaming:  # the consent scan: read to the end, which closes the file
            b"".join(response.streaming_content)
        want = expected(route, user, scope)
        if response.status_code >= 500:
            server_errors.append((username, url, want, response.status_code))
        if response.status_code != want:
            wrong.append((username, url, want, response.status_code))
    assert not server_errors, "server errors:\n" + _table(server_errors)
    assert not wrong, f"{len(wrong)} of {len(demo.addresses)} pages answered otherwise:\n" + (
        _table(wrong)
    )


@pytest.mark.django_db
def test_the_demo_gives_every_role_pages_inside_and_outside_its_region(demo):
    """The matrix is only worth its name if each people role and the administrator meet
    both answers: for every one of them some object page is a 200 and some a 404."""
    for username in USERNAMES:
        user = demo.users[username]
        answers = {
            expected(route, user, scope)
            for route, _, scope in demo.addresses
            if scope is not None and not route.post_only
        }
        if user.role in PEOPLE | {ADMIN}:
            assert 200 in answers, username
        if user.role in PEOPLE:
            assert 404 in answers, username
