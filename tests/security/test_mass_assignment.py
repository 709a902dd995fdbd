"""Mass assignment: a client that writes fields it may not set changes nothing of them.

For every writable API endpoint, a user who may write there sends a valid change together
with the fields the server owns: the read-only fields of the endpoint's serializer (every one
stored on a model is generated from the serializer, nested ones included — a member's write
must not rename its village), and an explicit list of the dangerous ones a serializer would
not name (status, actor and approver, the case of a measure, the department of a list, the
region of a screening run, the owner of an export …). The answer is the change applied
(200/201/202) and every server-owned value as it was — or, where the field is one the user
may set but not to that value (a household moved to another county's village), a refusal
(400, or 404 for a region outside the user's) with nothing changed.

The scenario is the page matrix's (tests/pages/test_every_page.py: the demo county and a
second county), loaded once for the module; every test's writes are rolled back after it.
`test_every_writable_endpoint_is_tried` fails when a write route appears in the authorization
matrix (tests/security/test_api_matrix.py) that no test here tries or exempts."""

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from households.api.serializers import (
    HouseholdSerializer,
    IncomeRecordSerializer,
    MemberSerializer,
    MonitoringLineSerializer,
)
from households.choices import LifeStatus, Relation
from households.models import (
    Household,
    IncomeRecord,
    Member,
    MonitoringLine,
    RegistryImport,
)
from interventions.api.insurance import (
    InsuranceClaimSerializer,
    InsuranceEnrolmentSerializer,
    InsurancePolicySerializer,
)
from interventions.api.serializers import (
    AidPlanSerializer,
    MeasureCategorySerializer,
    MeasureRecordSerializer,
)
from interventions.models import (
    AidPlan,
    InsuranceClaim,
    InsuranceEnrolment,
    InsurancePolicy,
    MeasureCategory,
    MeasureRecord,
)
from monitor.api.follow_up import FollowUpVisitSerializer
from monitor.api.region_policies import RegionPolicySerializer
from monitor.api.serializers import (
    AppraisalSerializer,
    CaseAdjustmentSerializer,
    CaseSerializer,
    CrossCheckItemSerializer,
    HomeVisitSerializer,
    MonthlyVisitSerializer,
    PublicNoticeSerializer,
)
from monitor.choices import (
    CLOSED_STATUSES,
    AdjustmentStatus,
    ClueStatus,
    Stage,
    Status,
    VisitKind,
    VisitLevel,
)
from monitor.models import (
    Appraisal,
    Case,
    CaseAdjustment,
    Clue,
    CrossCheckItem,
    Department,
    DispatchRound,
    ExportJob,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
    RegionPolicy,
    SelfApplication,
    WarningBatch,
)
from tests.conftest import COUNTY, OTHER_COUNTY, OTHER_VILLAGE, VILLAGE_A
from tests.factories import make_id_number
from tests.pages.test_every_page import (  # the page matrix's scenario
    demo,  # noqa: F401 — a fixture: the module's scenario
)
from tests.security.test_api_matrix import API_ROUTES

TODAY = timezone.localdate()
WEST_VILLAGE = "630121100202"  # 西关村: the same township as 东关村, not the cadre's

# --- the server-owned fields of a serializer ------------------------------------------------


@dataclass
class Hostile:
    """Values for the fields a client may not set: the body that carries them, and how to
    read each back (its source path on the record) with the value that was sent."""

    body: dict
    paths: dict  # field name → the attribute path of its source
    sent: dict  # field name → the value sent, as the model holds it
    # The fields the server moves itself on every save (an update time): they must not
    # take the value sent, but they do not stay as they were either.
    moving: frozenset = frozenset()


def _follow(model, path):
    """The model field at the end of a source path (None: not stored, e.g. a method, an
    annotation or a reverse relation)."""
    field = None
    for step, attr in enumerate(path):
        try:
            field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return None
        if not getattr(field, "concrete", False):
            return None
        if step < len(path) - 1:
            if not field.is_relation:
                return None
            model = field.related_model
    return field


def _read(obj, path):
    """The stored value at the end of a source path (a relation's key, not its object)."""
    for attr in path[:-1]:
        obj = getattr(obj, attr, None)
        if obj is None:
            return None
    field = obj._meta.get_field(path[-1])
    return getattr(obj, field.attname)


def _other_pk(model, current):
    return model._default_manager.exclude(pk=current).order_by("pk").values_list("pk", flat=True)[0]


def _hostile_value(field, current):
    """A value of the field's type that differs from the current one: (JSON, Python)."""
    if isinstance(field, models.AutoField) or field.is_relation:
        model = field.model if isinstance(field, models.AutoField) else field.related_model
        pk = _other_pk(model, current)
        return (pk if isinstance(pk, int | str) else str(pk)), pk
    if field.choices:
        value = next(choice for choice, _ in field.flatchoices if choice not in (current, ""))
        return value, value
    if isinstance(field, models.BooleanField):
        return (not current), (not current)
    if isinstance(field, models.DateTimeField):
        return "2001-02-03T04:05:06Z", datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    if isinstance(field, models.DateField):
        return "2001-02-03", date(2001, 2, 3)
    if isinstance(field, models.DecimalField):
        return "4321.00", Decimal("4321.00")
    if isinstance(field, models.IntegerField):
        return (current or 0) + 7, (current or 0) + 7
    if isinstance(field, models.JSONField):
        return {"篡改": 1}, {"篡改": 1}
    if isinstance(field, models.CharField | models.TextField):
        return "篡改", "篡改"
    return None, None


def hostile_read_only(serializer, instance=None, skip=(), like=None) -> Hostile:
    """Every read-only field of the serializer that a model stores, with a value of its
    type other than the record's — or, for a new record, other than the default, and for
    a field read through a relation the client names, other than that record's (`like`: an
    unsaved record with those relations set)."""
    model = serializer.Meta.model
    hostile = Hostile(body={}, paths={}, sent={})
    moving = set()
    for name, declared in serializer.fields.items():
        if not declared.read_only or declared.source == "*" or name in skip:
            continue
        path = declared.source.split(".")
        field = _follow(model, path)
        if field is None:
            continue
        if instance is not None:
            current = _read(instance, path)
        elif like is not None and len(path) > 1:
            current = _read(like, path)
        else:
            current = None if field.is_relation else field.get_default()
        body_value, sent = _hostile_value(field, current)
        if body_value is None:
            continue
        hostile.body[name], hostile.paths[name], hostile.sent[name] = body_value, path, sent
        if getattr(field, "auto_now", False):
            moving.add(name)
    assert hostile.body, f"{type(serializer).__name__} names no stored read-only field"
    hostile.moving = frozenset(moving)
    return hostile


def values(obj, paths: dict) -> dict:
    return {name: _read(obj, path) for name, path in paths.items()}


def stored(obj) -> dict:
    """Every stored value of a record, read afresh."""
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}


def assert_kept(record, before: dict, hostile: Hostile) -> None:
    """An updated record: every server-owned value as it was (an update time moved on by
    the server, not to the value sent)."""
    after = values(type(record)._default_manager.get(pk=record.pk), hostile.paths)
    changed = {
        name: (before[name], after[name])
        for name in hostile.paths
        if (after[name] == hostile.sent[name])
        or (name not in hostile.moving and after[name] != before[name])
    }
    assert not changed, f"server-owned fields changed (before, after): {changed}"


def assert_not_taken(record, hostile: Hostile) -> None:
    """A new record: none of the values sent for server-owned fields was taken."""
    taken = {
        name: hostile.sent[name]
        for name, path in hostile.paths.items()
        if _read(record, path) == hostile.sent[name]
    }
    assert not taken, f"server-owned fields written by the client: {taken}"


# --- the scenario ---------------------------------------------------------------------------


@dataclass(repr=False)
class Scenario:
    users: dict
    keys: dict


@pytest.fixture(scope="module")
def scenario(demo, django_db_blocker):  # noqa: F811 — the imported fixture
    with django_db_blocker.unblock():
        users = {name: User.objects.get(pk=user.pk) for name, user in demo.users.items()}
        keys = {"bumen_yibao": ApiToken.issue(user=users["bumen_yibao"], name="批量赋值")[1]}
        return Scenario(users=users, keys=keys)


def client(scenario, username=None) -> APIClient:
    api = APIClient(raise_request_exception=False)
    if username in scenario.keys:
        api.credentials(HTTP_AUTHORIZATION=f"Token {scenario.keys[username]}")
    elif username is not None:
        api.force_login(scenario.users[username])
    return api


COVERED: dict[tuple[str, str], str] = {}


def covers(*routes):
    """Register the (route, method) pairs a test tries (test_every_writable_endpoint_is_tried)."""

    def register(test):
        for route, method in routes:
            COVERED[(route, method)] = test.__name__
        return test

    return register


def _case(village=VILLAGE_A, **filters) -> Case:
    return Case.objects.filter(household__village_id=village, **filters).order_by("pk").first()


def _household_without_open_case(village=VILLAGE_A) -> Household:
    busy = Case.objects.exclude(status__in=CLOSED_STATUSES).values("household")
    return (
        Household.objects.filter(village_id=village, closed_on__isnull=True)
        .exclude(pk__in=busy)
        .order_by("pk")
        .first()
    )


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content.decode()[:600])
    return response


# --- the register ---------------------------------------------------------------------------


@pytest.mark.django_db
@covers(("household-detail", "PATCH"), ("household-detail", "PUT"))
@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_household_keeps_what_the_server_owns(scenario, method):
    household = Household.objects.filter(village_id=VILLAGE_A).order_by("pk").first()
    api = client(scenario, "cun_dongguan")
    url = reverse("household-detail", kwargs={"pk": household.pk})
    hostile = hostile_read_only(HouseholdSerializer(instance=household), household)
    assert {"is_monitored", "closed_on", "created_at", "village_name", "id"} <= set(hostile.body)
    before, other = (
        values(household, hostile.paths),
        stored(Household.objects.exclude(pk=household.pk).order_by("pk").first()),
    )
    # PUT sends back the whole record as read, as a careless client would.
    body = dict(_ok(api.get(url)).data) if method == "put" else {}
    body.update(hostile.body, address="东关村九社1号")
    _ok(getattr(api, method)(url, body, format="json"))
    assert Household.objects.get(pk=household.pk).address == "东关村九社1号"
    assert_kept(household, before, hostile)
    assert stored(Household.objects.get(pk=other["id"])) == other


@pytest.mark.django_db
@covers(("household-list", "POST"))
def test_a_new_household_takes_nothing_the_server_owns(scenario):
    existing = Household.objects.filter(village_id=VILLAGE_A).order_by("pk").first()
    kept = stored(existing)
    hostile = hostile_read_only(HouseholdSerializer())
    hostile.body["id"] = hostile.sent["id"] = existing.pk
    body = {
        **hostile.body,
        "number": f"{VILLAGE_A}99901",
        "village": VILLAGE_A,
        "kind": "ordinary",
        "address": "东关村十社1号",
    }
    response = _ok(
        client(scenario, "cun_dongguan").post("/api/households/", body, format="json"), 201
    )
    created = Household.objects.get(pk=response.data["id"])
    assert created.pk != existing.pk and created.number == f"{VILLAGE_A}99901"
    assert_not_taken(
        created, Hostile(body, {**hostile.paths, "id": ["id"]}, {**hostile.sent, "id": existing.pk})
    )
    assert stored(existing) == kept


@pytest.mark.django_db
@covers(("member-detail", "PATCH"), ("member-detail", "PUT"))
@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_member_keeps_what_the_server_owns(scenario, method):
    member = Member.objects.filter(household__village_id=VILLAGE_A).order_by("pk").first()
    api = client(scenario, "cun_dongguan")
    url = reverse("member-detail", kwargs={"pk": member.pk})
    hostile = hostile_read_only(MemberSerializer(instance=member), member)
    assert {"sex", "life_status", "life_status_on", "id_number_masked"} <= set(hostile.body)
    before = values(member, hostile.paths)
    body = dict(_ok(api.get(url)).data) if method == "put" else {}
    body.update(hostile.body, name="改过的名字")
    _ok(getattr(api, method)(url, body, format="json"))
    assert Member.objects.get(pk=member.pk).name == "改过的名字"
    assert_kept(member, before, hostile)


@pytest.mark.django_db
@covers(("member-list", "POST"))
def test_a_new_member_takes_nothing_the_server_owns(scenario):
    household = Household.objects.filter(village_id=VILLAGE_A).order_by("pk").first()
    hostile = hostile_read_only(MemberSerializer())
    # The sex is read from the ID number (a woman's here): the one sent is a man's.
    hostile.body["sex"] = hostile.sent["sex"] = "M"
    body = {
        **hostile.body,
        "household": household.pk,
        "name": "新成员",
        "id_number": make_id_number(birth=date(2001, 3, 4), sequence=612, male=False),
        "relation": Relation.CHILD,
        "health": "healthy",
        "labour": "ordinary",
    }
    response = _ok(client(scenario, "cun_dongguan").post("/api/members/", body, format="json"), 201)
    created = Member.objects.get(pk=response.data["id"])
    assert created.life_status == LifeStatus.IN_REGISTER and created.sex == "F"
    assert_not_taken(created, hostile)


@pytest.mark.django_db
@covers(("member-life-status", "POST"))
def test_a_change_of_member_status_changes_nothing_else(scenario):
    member = (
        Member.objects.filter(household__village_id=VILLAGE_A, life_status=LifeStatus.IN_REGISTER)
        .exclude(relation=Relation.HEAD)
        .order_by("pk")
        .first()
    )
    other = Household.objects.filter(village_id=VILLAGE_A).exclude(pk=member.household_id).first()
    kept = {"name": member.name, "household_id": member.household_id, "relation": member.relation}
    body = {
        "status": LifeStatus.MOVED_OUT,
        "on": str(TODAY),
        "evidence": "户口迁移证明 2026-001",
        "name": "篡改",
        "household": other.pk,
        "relation": Relation.HEAD,
        "id_number": make_id_number(sequence=990),
    }
    url = reverse("member-life-status", kwargs={"pk": member.pk})
    _ok(client(scenario, "cun_dongguan").post(url, body, format="json"))
    fresh = Member.objects.get(pk=member.pk)
    assert fresh.life_status == LifeStatus.MOVED_OUT
    assert {name: getattr(fresh, name) for name in kept} == kept
    assert fresh.id_number_hash == member.id_number_hash


@pytest.mark.django_db
@covers(("income-record-list", "POST"))
def test_an_income_record_computes_its_own_totals(scenario):
    household = Household.objects.filter(village_id=VILLAGE_A).order_by("pk").first()
    hostile = hostile_read_only(IncomeRecordSerializer())
    assert {"net_income", "per_capita_net_income", "per_capita_after_rigid"} <= set(hostile.body)
    existing = IncomeRecord.objects.order_by("pk").first()
    kept = stored(existing)
    hostile.body["id"] = hostile.sent["id"] = existing.pk
    body = {
        **hostile.body,
        "household": household.pk,
        "year": TODAY.year - 1,
        "household_size": 4,
        "wage_income": "10000.00",
        "operating_income": "2000.00",
        "property_income": "0",
        "transfer_income": "0",
        "production_cost": "1000.00",
        "medical_expense": "0",
        "education_expense": "0",
    }
    response = _ok(
        client(scenario, "cun_dongguan").post("/api/income-records/", body, format="json"), 201
    )
    created = IncomeRecord.objects.get(pk=response.data["id"])
    assert created.net_income == Decimal("11000.00")
    assert created.per_capita_net_income == Decimal("2750.00")
    assert_not_taken(created, hostile)
    assert stored(existing) == kept


@pytest.mark.django_db
@covers(("registry-import-upload", "POST"))
def test_an_upload_is_recorded_as_its_uploader_s(scenario):
    csv = f"户编号,村代码,户类型,住址\n{VILLAGE_A}99902,{VILLAGE_A},一般农户,东关村1社\n"
    upload = io.BytesIO(csv.encode())
    upload.name = "households.csv"
    body = {
        "file": upload,
        "kind": "households",
        "imported_by": scenario.users["admin"].pk,
        "rows_created": 999,
        "rows_rejected": 0,
        "id": RegistryImport.objects.order_by("pk").first().pk,
    }
    response = _ok(
        client(scenario, "cun_dongguan").post(
            reverse("registry-import-upload"), body, format="multipart"
        ),
        201,
    )
    record = RegistryImport.objects.get(pk=response.data["id"])
    assert record.imported_by == scenario.users["cun_dongguan"]
    assert (record.rows_created, record.rows_total) == (1, 1)


# --- cases and what is recorded on them ----------------------------------------------------


@pytest.mark.django_db
@covers(("case-detail", "PATCH"), ("case-detail", "PUT"))
@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_case_keeps_its_state_and_household(scenario, method):
    case = _case(status=Status.DRAFT)
    api = client(scenario, "cun_dongguan")
    url = reverse("case-detail", kwargs={"pk": case.pk})
    hostile = hostile_read_only(CaseSerializer(instance=case), case)
    assert {"status", "household", "identified_on", "cleared_on", "relapse_of"} <= set(hostile.body)
    before = values(case, hostile.paths)
    body = dict(_ok(api.get(url)).data) if method == "put" else {}
    body.update(hostile.body, description="补充：家中主要劳动力住院")
    _ok(getattr(api, method)(url, body, format="json"))
    assert Case.objects.get(pk=case.pk).description == "补充：家中主要劳动力住院"
    assert_kept(case, before, hostile)


@pytest.mark.django_db
@covers(("case-list", "POST"))
def test_a_new_case_starts_in_village_verification(scenario):
    household = _household_without_open_case()
    hostile = hostile_read_only(CaseSerializer())
    body = {
        **hostile.body,
        "household": household.pk,
        "category": "sudden",
        "channel": "cadre_screening",
        "risk_codes": ["01"],
        "found_on": str(TODAY - timedelta(days=2)),
        "description": "家中主要劳动力住院",
    }
    response = _ok(client(scenario, "cun_dongguan").post("/api/cases/", body, format="json"), 201)
    created = Case.objects.get(pk=response.data["id"])
    assert created.status == Status.DRAFT and created.household_id == household.pk
    assert_not_taken(created, hostile)


@pytest.mark.django_db
@covers(("measure-detail", "PATCH"))
def test_a_measure_keeps_its_case(scenario):
    measure = MeasureRecord.objects.filter(case__household__village_id=VILLAGE_A).first()
    hostile = hostile_read_only(MeasureRecordSerializer(instance=measure), measure)
    assert {"case", "recorded_at", "category_name"} <= set(hostile.body)
    before = values(measure, hostile.paths)
    url = reverse("measure-detail", kwargs={"pk": measure.pk})
    body = {**hostile.body, "description": "医疗救助（已到位）"}
    _ok(client(scenario, "cun_dongguan").patch(url, body, format="json"))
    assert MeasureRecord.objects.get(pk=measure.pk).description == "医疗救助（已到位）"
    assert_kept(measure, before, hostile)


@pytest.mark.django_db
@covers(("case-measures", "POST"))
def test_a_new_measure_belongs_to_the_case_in_its_address(scenario):
    case = _case(status=Status.MONITORING)
    hostile = hostile_read_only(MeasureRecordSerializer())
    other_case = Case.objects.filter(household__village_id=VILLAGE_A).exclude(pk=case.pk).first()
    hostile.body["case"] = hostile.sent["case"] = other_case.pk
    body = {
        **hostile.body,
        "category": "health",
        "description": "医疗救助",
        "department": "县医保局",
        "start_on": str(TODAY),
    }
    url = reverse("case-measures", kwargs={"pk": case.pk})
    response = _ok(client(scenario, "cun_dongguan").post(url, body, format="json"), 201)
    created = MeasureRecord.objects.get(pk=response.data["id"])
    assert created.case_id == case.pk
    assert_not_taken(created, hostile)


@dataclass(frozen=True)
class Record:
    """A record of a case: the route, the case's state it is taken in, its serializer, its
    model, and the valid fields."""

    route: str
    status: str
    serializer: type
    model: type
    fields: dict
    fmt: str = "json"


RECORDS = [
    Record(
        "case-home-visits",
        Status.DRAFT,
        HomeVisitSerializer,
        HomeVisit,
        {"visited_on": str(TODAY), "visitors": "村干部张三", "findings": "住房安全，收入下降"},
    ),
    Record(
        "case-appraisals",
        Status.DRAFT,
        AppraisalSerializer,
        Appraisal,
        {"held_on": str(TODAY), "result": "passed", "participants": 12, "notes": "一致同意"},
    ),
    Record(
        "case-notices",
        Status.DRAFT,
        PublicNoticeSerializer,
        PublicNotice,
        {"start_on": str(TODAY), "end_on": str(TODAY + timedelta(days=5)), "objections": ""},
    ),
    Record(
        "case-monthly-visits",
        Status.MONITORING,
        MonthlyVisitSerializer,
        MonthlyVisit,
        {"visited_on": str(TODAY), "visitors": "村干部张三", "findings": "无变化"},
    ),
]


@pytest.mark.django_db
@covers(*((record.route, "POST") for record in RECORDS))
@pytest.mark.parametrize("record", RECORDS, ids=[record.route for record in RECORDS])
def test_a_record_of_a_case_is_the_recorder_s_own(scenario, record):
    """Who recorded it, when, at which level and of which kind are the server's."""
    case = _case(status=record.status)
    hostile = hostile_read_only(record.serializer())
    admin = scenario.users["admin"]
    body = {**hostile.body, **record.fields, "recorded_by": admin.pk, "case": _case().pk}
    url = reverse(record.route, kwargs={"pk": case.pk})
    response = _ok(client(scenario, "cun_dongguan").post(url, body, format="json"), 201)
    created = record.model.objects.get(pk=response.data["id"])
    assert created.case_id == case.pk
    assert created.recorded_by == scenario.users["cun_dongguan"]
    assert_not_taken(created, hostile)
    if record.model is HomeVisit:
        assert created.level == VisitLevel.VILLAGE
    if record.model is MonthlyVisit:
        assert created.kind == VisitKind.MONTHLY


@pytest.mark.django_db
@covers(("case-follow-up-visits", "POST"))
def test_a_follow_up_visit_stays_a_follow_up_visit(scenario):
    case = Case.objects.filter(
        household__village_id=VILLAGE_A,
        status=Status.CLEARED,
        follow_up_until__gte=TODAY,
        household__closed_on__isnull=True,
    ).first()
    hostile = hostile_read_only(FollowUpVisitSerializer())
    # The kind the server gives this record is a follow-up's: the one sent is a monthly one.
    hostile.body["kind"] = hostile.sent["kind"] = VisitKind.MONTHLY
    body = {
        **hostile.body,
        "visited_on": str(TODAY),
        "visitors": "村干部张三",
        "findings": "收入稳定",
        "risk_changed": False,
    }
    url = reverse("case-follow-up-visits", kwargs={"pk": case.pk})
    response = _ok(client(scenario, "cun_dongguan").post(url, body, format="json"), 201)
    created = MonthlyVisit.objects.get(pk=response.data["id"])
    assert created.kind == VisitKind.FOLLOW_UP and created.case_id == case.pk
    assert_not_taken(created, hostile)


@pytest.mark.django_db
@covers(("case-consents", "POST"))
def test_a_consent_is_the_recorder_s_own(scenario):
    case = _case(status=Status.DRAFT)
    scan = io.BytesIO(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    scan.name = "consent.pdf"
    body = {
        "signed_on": str(TODAY),
        "scan": scan,
        "recorded_by": scenario.users["admin"].pk,
        "recorded_at": "2001-02-03T04:05:06Z",
        "stage": Stage.IDENTIFICATION,
    }
    url = reverse("case-consents", kwargs={"pk": case.pk})
    response = client(scenario, "cun_dongguan").post(url, body, format="multipart")
    _ok(response, 201)
    created = case.consents.get(pk=response.data["id"])
    assert created.recorded_by == scenario.users["cun_dongguan"]
    assert created.recorded_at.year == timezone.now().year


@pytest.mark.django_db
@covers(("case-cross-checks", "POST"))
def test_a_cross_check_is_the_recorder_s_own(scenario):
    case = _case(status=Status.DRAFT)
    findings = [
        {"item": item.code, "result": "clear"}
        for item in CrossCheckItem.objects.filter(active=True).order_by("sort_order", "pk")
    ]
    body = {
        "checked_on": str(TODAY),
        "findings": findings,
        "recorded_by": scenario.users["admin"].pk,
        "recorded_at": "2001-02-03T04:05:06Z",
        "id": case.crosschecks.order_by("pk").values_list("pk", flat=True).first() or 1,
    }
    url = reverse("case-cross-checks", kwargs={"pk": case.pk})
    response = _ok(client(scenario, "cun_dongguan").post(url, body, format="json"), 201)
    created = case.crosschecks.get(pk=response.data["id"])
    assert created.recorded_by == scenario.users["cun_dongguan"]
    assert created.recorded_at.year == timezone.now().year


@pytest.mark.django_db
@covers(("case-adjustments", "POST"))
def test_a_proposed_adjustment_waits_for_the_township(scenario):
    case = (
        Case.objects.filter(household__village_id=VILLAGE_A, status=Status.MONITORING)
        .exclude(adjustments__status=AdjustmentStatus.PROPOSED)
        .order_by("pk")
        .first()
    )
    # The proposal's own fields are the client's (AdjustmentProposalSerializer); the rest of
    # the record the answer shows is the server's.
    proposal = ("category", "risk_codes", "main_risk", "reason", "monthly_visit")
    hostile = hostile_read_only(CaseAdjustmentSerializer(), skip=proposal)
    assert {"status", "case", "proposed_by", "decided_by", "before"} <= set(hostile.body)
    # The same category, other risks: a change the consistency rules allow any household.
    codes = ["0201"] if case.risk_codes != ["0201"] else ["01"]
    body = {**hostile.body, "category": case.category, "risk_codes": codes, "main_risk": codes[0]}
    body["reason"] = "洪涝冲毁住房"
    url = reverse("case-adjustments", kwargs={"pk": case.pk})
    response = _ok(client(scenario, "cun_dongguan").post(url, body, format="json"), 201)
    created = CaseAdjustment.objects.get(pk=response.data["id"])
    assert created.status == AdjustmentStatus.PROPOSED and created.case_id == case.pk
    assert created.proposed_by == scenario.users["cun_dongguan"]
    assert created.decided_by is None
    assert_not_taken(created, hostile)
    # Proposed, not applied: the case keeps its risks until the township confirms.
    assert Case.objects.get(pk=case.pk).risk_codes == case.risk_codes


@pytest.mark.django_db
@covers(("case-aid-plan", "PUT"))
def test_an_aid_plan_stays_on_its_case(scenario):
    case = _case(status=Status.MONITORING, aid_plan__isnull=False)
    plan = case.aid_plan
    hostile = hostile_read_only(AidPlanSerializer(instance=plan), plan)
    other = _case(status=Status.CLEARED)
    body = {
        **hostile.body,
        "summary": "发展庭院经济，落实医疗救助",
        "responsible_person": "王五",
        "items": [{"category": "health", "description": "医疗救助"}],
        "case": other.pk,
        "created_by": scenario.users["admin"].pk,
    }
    url = reverse("case-aid-plan", kwargs={"pk": case.pk})
    _ok(client(scenario, "cun_dongguan").put(url, body, format="json"))
    fresh = AidPlan.objects.get(pk=plan.pk)
    assert fresh.case_id == case.pk and fresh.summary == "发展庭院经济，落实医疗救助"
    assert fresh.created_by_id == plan.created_by_id
    assert not AidPlan.objects.filter(case=other, summary=fresh.summary).exists()


@pytest.mark.django_db
@covers(("case-transitions", "POST"))
def test_a_step_is_taken_by_its_actor_to_the_step_s_state(scenario):
    """The state a step leads to and who took it are the workflow's, whatever is sent."""
    case = _case(status=Status.REPORTED)
    township = scenario.users["zhen_qiaotou"]
    identified = case.identified_on
    body = {
        "action": "township_return",
        "comment": "材料不全，请补充入户核实记录",
        "status": Status.MONITORING,
        "to_status": Status.CLEARED,
        "actor": scenario.users["admin"].pk,
        "actor_role": "county_approver",
        "actor_region": "630000000000",
        "at": "2001-02-03T04:05:06Z",
        "identified_on": "2001-02-03",
    }
    url = reverse("case-transitions", kwargs={"pk": case.pk})
    _ok(client(scenario, "zhen_qiaotou").post(url, body, format="json"))
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.status == Status.DRAFT and fresh.identified_on == identified
    step = fresh.transitions.order_by("-pk").first()
    assert (step.action, step.actor, step.actor_role) == (
        "township_return",
        township,
        "township_reviewer",
    )
    assert (step.actor_region, step.to_status) == (township.region_id, Status.DRAFT)
    assert step.at.year == timezone.now().year


# --- clues, lists and runs ---------------------------------------------------------------


@pytest.mark.django_db
@covers(("clue-verify", "POST"))
def test_a_verified_clue_keeps_its_village_and_trail(scenario):
    clue = Clue.objects.filter(
        village_id=VILLAGE_A, status=ClueStatus.VERIFYING, household__isnull=False
    ).first()
    cadre = scenario.users["cun_dongguan"]
    kept = {
        name: getattr(clue, name)
        for name in ("village_id", "household_id", "channel", "raised_on", "relapse_of_id")
    }
    body = {
        "outcome": "not_eligible",
        "note": "入户核实：收入稳定，不符合条件",
        "status": ClueStatus.PENDING_DISPATCH,
        "village": OTHER_VILLAGE,
        "channel": "self_application",
        "raised_on": "2001-02-03",
        "closed_by": scenario.users["admin"].pk,
        "closed_at": "2001-02-03T04:05:06Z",
        "case": _case().pk,
        "relapse_of": _case(status=Status.CLEARED).pk,
    }
    url = reverse("clue-verify", kwargs={"pk": clue.pk})
    _ok(client(scenario, "cun_dongguan").post(url, body, format="json"))
    fresh = Clue.objects.get(pk=clue.pk)
    assert (fresh.status, fresh.outcome, fresh.case_id) == (ClueStatus.CLOSED, "not_eligible", None)
    assert fresh.closed_by == cadre and fresh.closed_at.year == timezone.now().year
    assert {name: getattr(fresh, name) for name in kept} == kept


@pytest.mark.django_db
@covers(("clue-accept", "POST"), ("clue-dispatch", "POST"))
@pytest.mark.parametrize(
    ("route", "username", "find"),
    [
        (
            "clue-accept",
            "zhen_duoba",
            lambda: Clue.objects.filter(status=ClueStatus.PENDING_ACCEPTANCE).first(),
        ),
        (
            "clue-dispatch",
            "xian_datong",
            lambda: Clue.objects.filter(
                status=ClueStatus.PENDING_DISPATCH, village__code__startswith="630121"
            ).first(),
        ),
    ],
)
def test_a_step_without_a_body_takes_nothing_from_one(scenario, route, username, find):
    clue = find()
    kept = {name: getattr(clue, name) for name in ("village_id", "household_id", "channel")}
    body = {"status": ClueStatus.CLOSED, "outcome": "identify", "village": OTHER_VILLAGE}
    body.update(due_on="2001-02-03", closed_by=scenario.users["admin"].pk)
    _ok(
        client(scenario, username).post(reverse(route, kwargs={"pk": clue.pk}), body, format="json")
    )
    fresh = Clue.objects.get(pk=clue.pk)
    assert (fresh.status, fresh.outcome, fresh.closed_by_id) == (ClueStatus.VERIFYING, "", None)
    assert fresh.due_on > date(2001, 2, 3)
    assert {name: getattr(fresh, name) for name in kept} == kept


@pytest.mark.django_db
@covers(("dispatch-round-dispatch", "POST"))
def test_a_round_is_dispatched_by_its_county_approver(scenario):
    waiting = DispatchRound.objects.filter(county_id=COUNTY, dispatched_at__isnull=True).first()
    approver = scenario.users["xian_datong"]
    body = {
        "county": OTHER_COUNTY,
        "dispatched_by": scenario.users["admin"].pk,
        "dispatched_at": "2001-02-03T04:05:06Z",
        "clue_count": 0,
        "batch": WarningBatch.objects.order_by("-pk").values_list("pk", flat=True).first(),
    }
    url = reverse("dispatch-round-dispatch", kwargs={"pk": waiting.pk})
    _ok(client(scenario, "xian_datong").post(url, body, format="json"))
    fresh = DispatchRound.objects.get(pk=waiting.pk)
    assert (fresh.county_id, fresh.batch_id, fresh.clue_count) == (
        waiting.county_id,
        waiting.batch_id,
        waiting.clue_count,
    )
    assert fresh.dispatched_by == approver and fresh.dispatched_at.year == timezone.now().year


@pytest.mark.django_db
@covers(("warning-batch-list", "POST"))
def test_a_department_s_list_is_its_own(scenario):
    own = Department.objects.get(account=scenario.users["bumen_yibao"])
    other = Department.objects.exclude(pk=own.pk).first()
    body = {
        "batch_key": "大通-医保-批量赋值",
        "rows": [
            {"姓名": "测试", "身份证号": make_id_number(sequence=880), "预警类型": "高额医疗自付"}
        ],
        "department": other.pk,
        "source": WarningBatch.Source.SCREENING,
        "scope_prefix": "",
        "status": "done",
        "rows_total": 999,
        "rows_new_clue": 999,
        "id": WarningBatch.objects.order_by("pk").values_list("pk", flat=True).first(),
    }
    response = _ok(
        client(scenario, "bumen_yibao").post("/api/feeds/batches/", body, format="json"), 202
    )
    batch = WarningBatch.objects.get(pk=response.data["id"])
    assert (batch.department, batch.source) == (own, WarningBatch.Source.DEPARTMENT)
    # Received, its rows counted by the worker after the commit (never, inside this test).
    assert (batch.status, batch.rows_total, batch.rows_new_clue) == ("received", 0, 0)


@pytest.mark.django_db
@covers(("screening-run-list", "POST"))
def test_a_screening_run_covers_the_user_s_region_only(scenario):
    """The region of a run is the user's: a township reviewer cannot run the whole
    registry by naming an empty prefix."""
    body = {
        "scope_prefix": "",
        "source": WarningBatch.Source.DEPARTMENT,
        "department": Department.objects.order_by("pk").first().pk,
        "status": "done",
        "rows_total": 0,
    }
    response = _ok(
        client(scenario, "zhen_qiaotou").post("/api/screening-runs/", body, format="json"), 202
    )
    run = WarningBatch.objects.get(pk=response.data["id"])
    assert (run.scope_prefix, run.source, run.department_id) == (
        "630121100",
        WarningBatch.Source.SCREENING,
        None,
    )


@pytest.mark.django_db
@covers(("self-application-list", "POST"))
def test_a_self_application_is_filed_as_the_public_sends_it_and_no_further(scenario):
    clue = Clue.objects.order_by("pk").first()
    body = {
        "name": "赵六",
        "phone": "13912345670",
        "id_number": make_id_number(birth=date(1978, 6, 7), sequence=770),
        "difficulty": "家人患病，医药费负担重",
        "village": VILLAGE_A,
        "risk_type": "01",
        "reference": "SQ20010203000001",
        "clue": clue.pk,
        "case": _case().pk,
        "submitted_at": "2001-02-03T04:05:06Z",
    }
    response = _ok(client(scenario).post("/api/self-applications/", body, format="json"), 201)
    application = SelfApplication.objects.get(reference=response.data["reference"])
    assert application.reference != "SQ20010203000001"
    assert application.clue_id != clue.pk and application.case_id is None
    assert application.village_id == VILLAGE_A


# --- exports, the user's own account and notifications -----------------------------------


@pytest.mark.django_db
@covers(("export-list", "POST"))
def test_an_export_is_its_requester_s(scenario):
    approver = scenario.users["xian_datong"]
    body = {
        "kind": "ledger",
        "requested_by": scenario.users["cun_duoba"].pk,
        "state": "done",
        "file_name": "篡改.xlsx",
        "expires_at": "2999-01-01T00:00:00Z",
        "rows_total": 1,
        "id": str(ExportJob.objects.order_by("created_at").first().pk),
    }
    response = _ok(client(scenario, "xian_datong").post("/api/exports/", body, format="json"), 202)
    job = ExportJob.objects.get(pk=response.data["id"])
    assert job.requested_by == approver and job.region_id == COUNTY
    assert job.file_name != "篡改.xlsx"
    assert job.expires_at is None or job.expires_at.year < 2999


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["patch", "put", "post"])
def test_no_one_changes_their_own_role_or_region_through_the_api(scenario, method):
    """/api/me/ only reads: the role, region and back-office rights are the administrator's
    to grant (with a second person), never the account's own."""
    user = scenario.users["cun_dongguan"]
    body = {"role": "county_approver", "region": "630000000000", "is_staff": True}
    body.update(is_superuser=True, username="admin2", is_active=True)
    response = getattr(client(scenario, "cun_dongguan"), method)("/api/me/", body, format="json")
    assert response.status_code == 405
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.role, fresh.region_id, fresh.is_staff, fresh.is_superuser, fresh.username) == (
        user.role,
        user.region_id,
        user.is_staff,
        user.is_superuser,
        user.username,
    )


@pytest.mark.django_db
@covers(("notification-read", "POST"))
def test_marking_a_notification_read_changes_nothing_else(scenario):
    cadre = scenario.users["cun_dongguan"]
    notice = Notification.objects.filter(region_id=cadre.region_id, role=cadre.role).first()
    kept = {name: getattr(notice, name) for name in ("message", "region_id", "role", "case_id")}
    body = {"message": "篡改", "region": OTHER_VILLAGE, "role": "admin", "case": _case().pk}
    url = reverse("notification-read", kwargs={"pk": notice.pk})
    _ok(client(scenario, "cun_dongguan").post(url, body, format="json"))
    fresh = Notification.objects.get(pk=notice.pk)
    assert fresh.read_at is not None
    assert {name: getattr(fresh, name) for name in kept} == kept


@pytest.mark.django_db
@covers(("spot-check-list", "POST"))
def test_the_spot_check_draws_the_county_s_share_whatever_is_asked(scenario):
    body = {"percent": 100, "case_ids": list(Case.objects.values_list("pk", flat=True)[:5])}
    response = _ok(client(scenario, "xian_datong").post("/api/spot-checks/", body, format="json"))
    assert response.data["percent"] != 100
    drawn = Case.objects.filter(
        spot_check_drawn_at__isnull=False, household__village__code__startswith="630122"
    )
    assert not drawn.exists()


# --- administration records and 防贫保险 -----------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """A record kept by a role: its route names, the serializer, a valid change and a new
    record's fields."""

    detail: str
    listing: str
    username: str
    serializer: type
    find: object  # () → the record to change
    change: dict
    new: object  # () → the fields of a new record
    methods: tuple = ("patch", "put")


def _county_line():
    return MonitoringLine.objects.filter(region_id=COUNTY).order_by("pk").first()


KEPT = [
    Kept(
        "monitoring-line-detail",
        "monitoring-line-list",
        "xian_datong",
        MonitoringLineSerializer,
        _county_line,
        {"source": "县政府文件（篡改测试）"},
        lambda: {"region": COUNTY, "year": _county_line().year - 3, "amount": "8000.00"},
    ),
    Kept(
        "region-policy-detail",
        "region-policy-list",
        "xian_datong",
        RegionPolicySerializer,
        lambda: RegionPolicy.objects.filter(region_id=COUNTY).first(),
        {"source": "县政府文件（篡改测试）"},
        lambda: {"region": COUNTY, "year": TODAY.year - 3, "identification_days": 10},
    ),
    Kept(
        "insurance-policy-detail",
        "insurance-policy-list",
        "xian_datong",
        InsurancePolicySerializer,
        lambda: InsurancePolicy.objects.filter(region_id=COUNTY).first(),
        {"note": "续保（篡改测试）"},
        lambda: {
            "region": COUNTY,
            "year": TODAY.year - 3,
            "insurer": "测试承保机构",
            "coverage": "all_rural",
            "trigger_line": "8000",
        },
    ),
    Kept(
        "cross-check-item-detail",
        "cross-check-item-list",
        "admin",
        CrossCheckItemSerializer,
        lambda: CrossCheckItem.objects.order_by("pk").first(),
        {"description": "比对说明（篡改测试）"},
        lambda: {"code": "mass_test", "name": "测试事项", "description": "", "sort_order": 90},
        methods=("patch",),
    ),
    Kept(
        "measure-category-detail",
        "measure-category-list",
        "admin",
        MeasureCategorySerializer,
        lambda: MeasureCategory.objects.order_by("pk").first(),
        {"sort_order": 77},
        lambda: {"code": "mass_test", "name": "测试类别", "sort_order": 90},
        methods=("patch",),
    ),
]


def _extra_read_only(serializer, body: dict) -> dict:
    """Read-only declared fields a model does not store (annotations such as a count of
    enrolled households), sent too: the answer must not echo them back as stored."""
    return {
        name: 9999
        for name, declared in serializer.fields.items()
        if declared.read_only and name not in body and name != "id"
    }


KEPT_CHANGES = [(kept, method) for kept in KEPT for method in kept.methods]


@pytest.mark.django_db
@covers(*((kept.detail, method.upper()) for kept, method in KEPT_CHANGES))
@pytest.mark.parametrize(
    ("kept", "method"), KEPT_CHANGES, ids=[f"{k.detail}-{m}" for k, m in KEPT_CHANGES]
)
def test_an_administration_record_keeps_what_the_server_owns(scenario, kept, method):
    record = kept.find()
    hostile = hostile_read_only(kept.serializer(instance=record), record)
    before = values(record, hostile.paths)
    api = client(scenario, kept.username)
    url = reverse(kept.detail, kwargs={"pk": record.pk})
    # PUT sends back the whole record as read, as a careless client would.
    body = dict(_ok(api.get(url)).data) if method == "put" else {}
    body.update(hostile.body, **kept.change)
    _ok(getattr(api, method)(url, body, format="json"))
    fresh = type(record).objects.get(pk=record.pk)
    assert all(str(getattr(fresh, name)) == str(value) for name, value in kept.change.items())
    assert_kept(record, before, hostile)


@pytest.mark.django_db
@covers(*((kept.listing, "POST") for kept in KEPT))
@pytest.mark.parametrize("kept", KEPT, ids=[kept.listing for kept in KEPT])
def test_a_new_administration_record_takes_nothing_the_server_owns(scenario, kept):
    existing = kept.find()
    untouched = stored(existing)
    hostile = hostile_read_only(kept.serializer())
    hostile.body["id"] = hostile.sent["id"] = existing.pk
    body = {**_extra_read_only(kept.serializer(), hostile.body), **hostile.body, **kept.new()}
    response = _ok(
        client(scenario, kept.username).post(reverse(kept.listing), body, format="json"), 201
    )
    created = type(existing).objects.get(pk=response.data["id"])
    assert created.pk != existing.pk
    assert_not_taken(created, hostile)
    assert stored(existing) == untouched
    if "enrolled" in response.data:
        assert response.data["enrolled"] == 0


@pytest.mark.django_db
@covers(("insurance-enrolment-list", "POST"))
def test_an_enrolment_takes_nothing_the_server_owns(scenario):
    policy = InsurancePolicy.objects.get(region_id=COUNTY)
    enrolled = InsuranceEnrolment.objects.filter(policy=policy).values("household")
    # A household the policy covers (脱贫户 or monitored), not enrolled yet.
    household = (
        Household.objects.filter(village_id=VILLAGE_A, closed_on__isnull=True)
        .filter(models.Q(kind="lifted") | models.Q(is_monitored=True))
        .exclude(pk__in=enrolled)
        .first()
    )
    like = InsuranceEnrolment(policy=policy, household=household)
    hostile = hostile_read_only(InsuranceEnrolmentSerializer(), like=like)
    assert {"policy_year", "insurer", "household_number", "recorded_at"} <= set(hostile.body)
    untouched = stored(policy)
    body = {**hostile.body, "policy": policy.pk, "household": household.pk}
    response = _ok(
        client(scenario, "cun_dongguan").post("/api/insurance-enrolments/", body, format="json"),
        201,
    )
    created = InsuranceEnrolment.objects.get(pk=response.data["id"])
    assert (created.policy_id, created.household_id) == (policy.pk, household.pk)
    assert created.recorded_by == scenario.users["cun_dongguan"]
    assert_not_taken(created, hostile)
    assert stored(policy) == untouched


@pytest.mark.django_db
@covers(("insurance-policy-enrol-all", "POST"))
def test_enrolling_all_stays_inside_the_policy_and_the_user_s_region(scenario):
    policy = InsurancePolicy.objects.get(region_id=COUNTY)
    other = Household.objects.filter(village_id=OTHER_VILLAGE).first()
    body = {"household": other.pk, "policy": InsurancePolicy.objects.get(region_id=OTHER_COUNTY).pk}
    url = reverse("insurance-policy-enrol-all", kwargs={"pk": policy.pk})
    _ok(client(scenario, "cun_dongguan").post(url, body, format="json"))
    added = InsuranceEnrolment.objects.filter(policy=policy)
    assert added.exists()
    assert (
        not added.exclude(household__village_id=VILLAGE_A)
        .filter(recorded_by=scenario.users["cun_dongguan"])
        .exists()
    )
    assert not InsuranceEnrolment.objects.filter(household=other, policy=policy).exists()


@pytest.mark.django_db
@covers(("insurance-claim-list", "POST"))
def test_a_claim_takes_nothing_the_server_owns(scenario):
    enrolment = (
        InsuranceEnrolment.objects.filter(household__village__code__startswith="630121100")
        .order_by("pk")
        .first()
    )
    hostile = hostile_read_only(
        InsuranceClaimSerializer(), like=InsuranceClaim(enrolment=enrolment)
    )
    assert {"household", "policy", "insurer", "recorded_at"} <= set(hostile.body)
    untouched = stored(enrolment)
    body = {
        **hostile.body,
        "enrolment": enrolment.pk,
        "claimed_on": str(TODAY),
        "reason": "因病医疗自付后收入低于触发线",
    }
    response = _ok(
        client(scenario, "zhen_qiaotou").post("/api/insurance-claims/", body, format="json"), 201
    )
    created = InsuranceClaim.objects.get(pk=response.data["id"])
    assert created.enrolment_id == enrolment.pk
    assert created.recorded_by == scenario.users["zhen_qiaotou"]
    assert_not_taken(created, hostile)
    assert stored(enrolment) == untouched


@pytest.mark.django_db
@covers(("insurance-claim-pay", "POST"))
def test_paying_a_claim_changes_only_the_payment(scenario):
    # The second county's claim, reported and not yet paid.
    claim = InsuranceClaim.objects.get(enrolment__household__village_id=OTHER_VILLAGE)
    assert claim.paid_on is None
    username = "zhen_duoba"
    hostile = hostile_read_only(InsuranceClaimSerializer(instance=claim), claim)
    before = values(claim, hostile.paths)
    kept = {name: getattr(claim, name) for name in ("reason", "claimed_on", "enrolment_id")}
    other_enrolment = InsuranceEnrolment.objects.exclude(pk=claim.enrolment_id).first()
    body = {
        **hostile.body,
        "amount_paid": "1200.00",
        "paid_on": str(TODAY),
        "reason": "篡改",
        "claimed_on": "2001-02-03",
        "enrolment": other_enrolment.pk,
    }
    url = reverse("insurance-claim-pay", kwargs={"pk": claim.pk})
    _ok(client(scenario, username).post(url, body, format="json"))
    fresh = InsuranceClaim.objects.get(pk=claim.pk)
    assert (fresh.amount_paid, fresh.paid_on) == (Decimal("1200.00"), TODAY)
    assert {name: getattr(fresh, name) for name in kept} == kept
    assert_kept(claim, before, hostile)


# --- fields the user may set, but not to another region's record ---------------------------


def _other_county_household():
    return Household.objects.filter(village_id=OTHER_VILLAGE).order_by("pk").first()


def _dongguan_household():
    return Household.objects.filter(village_id=VILLAGE_A).order_by("pk").first()


def _dongguan_member():
    return Member.objects.filter(household__village_id=VILLAGE_A).order_by("pk").first()


def _stored_measure():
    measure = MeasureRecord.objects.filter(case__household__village_id=VILLAGE_A).first()
    return stored(measure), sorted(measure.beneficiaries.values_list("pk", flat=True))


@dataclass(frozen=True)
class Refused:
    """A value the user may not give a field they may set: refused, nothing changed."""

    name: str
    username: str
    method: str
    url: object  # () → the address
    body: object  # () → the body
    status: int  # 400: an id unknown in the user's scope; 404: a region outside it
    state: object  # () → what must read the same before and after
    # The field naming a record the user does not see: the answer must be the one a record
    # that does not exist gets (no existence oracle, issue 11 finding 5).
    unseen: str | None = None


REFUSED = [
    Refused(
        "household-moved-next-door",
        "cun_dongguan",
        "patch",
        lambda: reverse("household-detail", kwargs={"pk": _dongguan_household().pk}),
        lambda: {"village": WEST_VILLAGE},
        400,
        lambda: stored(_dongguan_household()),
        unseen="village",
    ),
    Refused(
        "household-moved-to-another-county",
        "cun_dongguan",
        "patch",
        lambda: reverse("household-detail", kwargs={"pk": _dongguan_household().pk}),
        lambda: {"village": OTHER_VILLAGE},
        400,
        lambda: stored(_dongguan_household()),
        unseen="village",
    ),
    Refused(
        "household-created-in-another-county",
        "cun_dongguan",
        "post",
        lambda: reverse("household-list"),
        lambda: {
            "number": f"{OTHER_VILLAGE}99903",
            "village": OTHER_VILLAGE,
            "kind": "ordinary",
            "address": "多巴村",
        },
        400,
        lambda: Household.objects.count(),
        unseen="village",
    ),
    Refused(
        "member-moved-to-another-county",
        "cun_dongguan",
        "patch",
        lambda: reverse("member-detail", kwargs={"pk": _dongguan_member().pk}),
        lambda: {"household": _other_county_household().pk},
        400,
        lambda: stored(_dongguan_member()),
        unseen="household",
    ),
    Refused(
        "member-filed-in-another-county",
        "cun_dongguan",
        "post",
        lambda: reverse("member-list"),
        lambda: {
            "household": _other_county_household().pk,
            "name": "越权",
            "id_number": make_id_number(region="630122", sequence=882),
            "relation": Relation.CHILD,
            "health": "healthy",
            "labour": "ordinary",
        },
        400,
        lambda: Member.objects.count(),
        unseen="household",
    ),
    Refused(
        "case-filed-in-another-county",
        "cun_dongguan",
        "post",
        lambda: reverse("case-list"),
        lambda: {
            "household": _other_county_household().pk,
            "category": "sudden",
            "channel": "cadre_screening",
            "risk_codes": ["01"],
            "found_on": str(TODAY),
            "description": "越权",
        },
        400,
        lambda: Case.objects.count(),
        unseen="household",
    ),
    Refused(
        "income-of-another-county",
        "cun_dongguan",
        "post",
        lambda: reverse("income-record-list"),
        lambda: {"household": _other_county_household().pk, "year": TODAY.year - 1},
        400,
        lambda: IncomeRecord.objects.count(),
        unseen="household",
    ),
    Refused(
        "enrolment-in-another-county",
        "cun_dongguan",
        "post",
        lambda: reverse("insurance-enrolment-list"),
        lambda: {
            "household": _other_county_household().pk,
            "policy": InsurancePolicy.objects.get(region_id=COUNTY).pk,
        },
        400,
        lambda: InsuranceEnrolment.objects.count(),
        unseen="household",
    ),
    Refused(
        "claim-on-another-county-s-enrolment",
        "zhen_qiaotou",
        "post",
        lambda: reverse("insurance-claim-list"),
        lambda: {
            "enrolment": InsuranceEnrolment.objects.filter(household__village_id=OTHER_VILLAGE)
            .first()
            .pk,
            "claimed_on": str(TODAY),
            "reason": "越权",
        },
        400,
        lambda: InsuranceClaim.objects.count(),
        unseen="enrolment",
    ),
    Refused(
        "measure-for-a-member-of-another-household",
        "cun_dongguan",
        "post",
        lambda: reverse("case-measures", kwargs={"pk": _case(status=Status.MONITORING).pk}),
        lambda: {
            "category": "health",
            "description": "医疗救助",
            "department": "县医保局",
            "start_on": str(TODAY),
            "beneficiaries": [
                Member.objects.filter(household__village_id=VILLAGE_A)
                .exclude(household=_case(status=Status.MONITORING).household)
                .first()
                .pk
            ],
        },
        400,
        lambda: MeasureRecord.objects.count(),
    ),
    Refused(
        "measure-for-a-member-of-another-county",
        "cun_dongguan",
        "patch",
        lambda: reverse(
            "measure-detail",
            kwargs={
                "pk": MeasureRecord.objects.filter(case__household__village_id=VILLAGE_A).first().pk
            },
        ),
        lambda: {
            "beneficiaries": [Member.objects.filter(household__village_id=OTHER_VILLAGE).first().pk]
        },
        400,
        _stored_measure,
        unseen="beneficiaries",
    ),
    *(
        Refused(
            f"{route}-moved-to-another-county",
            "xian_datong",
            "patch",
            lambda route=route, model=model: reverse(
                route, kwargs={"pk": model.objects.filter(region_id=COUNTY).first().pk}
            ),
            lambda: {"region": OTHER_COUNTY},
            404,
            lambda model=model: stored(model.objects.filter(region_id=COUNTY).first()),
        )
        for route, model in (
            ("monitoring-line-detail", MonitoringLine),
            ("region-policy-detail", RegionPolicy),
            ("insurance-policy-detail", InsurancePolicy),
        )
    ),
    Refused(
        "monitoring-line-of-another-county",
        "xian_datong",
        "post",
        lambda: reverse("monitoring-line-list"),
        lambda: {"region": OTHER_COUNTY, "year": TODAY.year - 3, "amount": "8000.00"},
        404,
        lambda: MonitoringLine.objects.count(),
    ),
    Refused(
        "export-of-another-county",
        "xian_datong",
        "post",
        lambda: reverse("export-list"),
        lambda: {"kind": "ledger", "region": OTHER_COUNTY},
        404,
        lambda: ExportJob.objects.count(),
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("refused", REFUSED, ids=[refused.name for refused in REFUSED])
def test_a_field_the_user_may_set_refuses_another_region_s_record(scenario, refused):
    """400 for a related record outside the user's scope (the same answer as for one that
    does not exist: nothing is told of it), 404 for a region outside it; nothing written."""
    before = refused.state()
    api = client(scenario, refused.username)
    body = refused.body()
    response = getattr(api, refused.method)(refused.url(), body, format="json")
    assert response.status_code == refused.status, response.content.decode()[:400]
    assert refused.state() == before
    if refused.unseen is None:
        return
    unseen = body[refused.unseen]
    ghost = {**body, refused.unseen: _ghost(unseen)}
    missing = getattr(api, refused.method)(refused.url(), ghost, format="json")
    told = _masked(response.content.decode(), unseen)
    assert told == _masked(missing.content.decode(), ghost[refused.unseen]), (
        "a record outside the user's region is answered otherwise than one that does not exist"
    )


GHOST_ID = 2_000_000_000  # no record has it
GHOST_VILLAGE = "630121100299"  # no village has it


def _ghost(value):
    if isinstance(value, list):
        return [_ghost(item) for item in value]
    return GHOST_VILLAGE if isinstance(value, str) else GHOST_ID


def _masked(text: str, value) -> str:
    for item in value if isinstance(value, list) else [value]:
        text = text.replace(str(item), "<id>")
    return text


# --- every write is tried ------------------------------------------------------------------

# Writes with nothing of a record's to assign: they read (an audit row is their only write),
# or delete what they name.
EXEMPT = {
    ("member-reveal", "POST"): "reads a full number; writes only its audit row",
    ("clue-reveal-applicant", "POST"): "reads an applicant's number; writes only its audit row",
    ("self-application-lookup-list", "POST"): "reads where an application stands",
    ("monitoring-line-detail", "DELETE"): "deletes the record it names; takes no body",
    ("region-policy-detail", "DELETE"): "deletes the record it names; takes no body",
}


def test_every_writable_endpoint_is_tried():
    writes = {
        (route, method)
        for route, methods in API_ROUTES.items()
        for method in methods
        if method != "GET"
    }
    untried = sorted(writes - set(COVERED) - set(EXEMPT))
    assert not untried, f"write endpoints no mass-assignment test tries: {untried}"
    stale = sorted((set(COVERED) | set(EXEMPT)) - writes)
    assert not stale, f"tried or exempted, but not write endpoints of the matrix: {stale}"
