"""The pages attacked as a careless user and as an attacker would: garbage in every field of
every form, markup in every text people type, redirects to other hosts, POSTs without a
CSRF token, full ID and phone numbers looked for in every page, another region's objects
written to through POST, and htmx asking for the reveal fragments.

One scenario for the module (made through the services, rolled back at the end): objects of
every kind in 东关村 (the village cadre's, inside the township reviewer's and the county
approver's regions) and in 多巴村 of another county, with people and texts whose names are
markup and whose ID and phone numbers are known, so the tests can look for them."""

import re
import traceback
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from accounts.choices import Role
from accounts.models import User
from households.importing import registry_import
from households.models import MonitoringLine, Region, RegistryImport
from households.services import (
    income_record_save,
    member_reveal,
    monitoring_line_save,
    regions_load_csv,
)
from interventions.models import MeasureCategory
from interventions.services import aid_plan_save, measure_record_create
from monitor.administration import department_create, department_key_issue, threshold_save
from monitor.choices import Category, Channel, Status
from monitor.feeds.applications import self_application_submit
from monitor.feeds.clues import clue_accept, clue_verify
from monitor.feeds.dispatch import round_dispatch
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.models import Case, Clue, DispatchRound, Notification
from monitor.models.feeds import DepartmentKind
from monitor.services import case_create, consent_record, monthly_visit_record
from monitor.workflow import case_transition
from tests.conftest import (
    COUNTY,
    DEMO_DIR,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PDF,
    TOWNSHIP_1,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
)
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

TODAY = timezone.localdate()
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PEOPLE = ("cadre_a", "reviewer_1", "approver")
MANAGERS = ("approver", "admin")

# Known numbers: none of them may appear in full on any page but the audited reveals.
ID_HEAD = make_id_number(sequence=600)
ID_CHILD = make_id_number(birth=date(2015, 3, 1), sequence=602)
ID_ZHAO = make_id_number(sequence=610)
ID_WU = make_id_number(sequence=640)
ID_ZHENG = make_id_number(sequence=644)
ID_APPLICANT = make_id_number(sequence=650)
ID_APPLICANT_2 = make_id_number(sequence=652)
ID_OTHER = make_id_number(region="630122", birth=date(1975, 1, 2), sequence=730)
ID_OTHER_APPLICANT = make_id_number(region="630122", birth=date(1980, 3, 4), sequence=740)
ID_IMPORTED = make_id_number(sequence=660)
PHONE_HEAD, PHONE_CHILD, PHONE_ZHAO = "13800000001", "13800000002", "13800000003"
PHONE_APPLICANT, PHONE_APPLICANT_2, PHONE_OTHER = "13900000009", "13900000010", "13700000007"
PHONE_IMPORTED = "13600000006"
NUMBERS = [
    ID_HEAD,
    ID_CHILD,
    ID_ZHAO,
    ID_WU,
    ID_ZHENG,
    ID_APPLICANT,
    ID_APPLICANT_2,
    ID_OTHER,
    ID_OTHER_APPLICANT,
    ID_IMPORTED,
    PHONE_HEAD,
    PHONE_CHILD,
    PHONE_ZHAO,
    PHONE_APPLICANT,
    PHONE_APPLICANT_2,
    PHONE_OTHER,
    PHONE_IMPORTED,
]


# --- the scenario ------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    ids: dict = field(default_factory=dict)  # name → primary key
    media: object = None

    def __getitem__(self, name):
        return self.ids[name]


USERS = [
    ("cadre_a", Role.VILLAGE_CADRE, VILLAGE_A),
    ("cadre_b", Role.VILLAGE_CADRE, VILLAGE_B),
    ("cadre_c", Role.VILLAGE_CADRE, VILLAGE_C),
    ("reviewer_1", Role.TOWNSHIP_REVIEWER, TOWNSHIP_1),
    ("approver", Role.COUNTY_APPROVER, COUNTY),
    ("approver_other", Role.COUNTY_APPROVER, OTHER_COUNTY),
    ("department", Role.DEPARTMENT, COUNTY),
    ("auditor", Role.AUDITOR, None),
    ("admin", Role.ADMIN, None),
]


def _home(village, name, id_number, phone="", kind="ordinary", **member):
    household = HouseholdFactory(village_id=village, kind=kind, address=f"{SCRIPT}社")
    MemberFactory(
        household=household,
        name=name,
        relation="head",
        id_number=id_number,
        phone=phone,
        **member,
    )
    return household


def _case(household, by, status=None, **extra):
    found = TODAY - timedelta(days=20)
    case = case_create(
        household=household,
        category=extra.pop("category", Category.SUDDEN),
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=found,
        by=by,
        today=found,
        **extra,
    )
    if status:
        Case.objects.filter(pk=case.pk).update(status=status, identified_on=found)
        case.refresh_from_db()
    return case


def _build(world: World) -> None:
    u, ids = world.users, world.ids
    for year in (2025, 2026, TODAY.year):
        MonitoringLine.objects.get_or_create(
            region_id="630000000000", year=year, defaults={"amount": Decimal("8000")}
        )
    # 东关村: a 脱贫户 whose members' names are markup, with a draft case.
    family = _home(VILLAGE_A, SCRIPT, ID_HEAD, PHONE_HEAD, kind="lifted")
    MemberFactory(
        household=family,
        name=IMG,
        relation="child",
        labour="none",
        id_number=ID_CHILD,
        phone=PHONE_CHILD,
    )
    income_record_save(household=family, year=2025, wage_income=Decimal("10000"))
    draft = _case(family, u["cadre_a"], category=Category.UNSTABLE, description=SCRIPT + IMG)
    consent = consent_record(
        case=draft,
        by=u["cadre_a"],
        signed_on=TODAY - timedelta(days=3),
        scan=ContentFile(PDF, name="consent.pdf"),
    )
    ids.update(family=family.pk, draft=draft.pk, consent=consent.pk)
    ids["head"] = family.members.get(relation="head").pk
    # A monitored case with a measure, a plan, a monthly visit and a returned step.
    zhao = _home(VILLAGE_A, "赵二", ID_ZHAO, PHONE_ZHAO)
    monitored = _case(zhao, u["cadre_a"], green_channel=True, description=IMG)
    health = MeasureCategory.objects.get(code="health")
    measure = measure_record_create(
        case=monitored,
        by=u["cadre_a"],
        category=health,
        description=SCRIPT,
        department=IMG,
        start_on=TODAY - timedelta(days=10),
        amount=Decimal("100"),
    )
    aid_plan_save(
        case=monitored,
        by=u["cadre_a"],
        summary=SCRIPT,
        responsible_person=IMG,
        items=[{"category": health, "description": IMG}],
    )
    Case.objects.filter(pk=monitored.pk).update(status=Status.REPORTED)
    case_transition(
        case_id=monitored.pk, action="township_return", by=u["reviewer_1"], comment=SCRIPT
    )
    Case.objects.filter(pk=monitored.pk).update(
        status=Status.MONITORING, identified_on=TODAY - timedelta(days=15)
    )
    monitored.refresh_from_db()
    monthly_visit_record(
        case=monitored,
        by=u["cadre_a"],
        visited_on=TODAY - timedelta(days=1),
        visitors=IMG,
        findings=SCRIPT,
    )
    ids.update(zhao=zhao.pk, monitored=monitored.pk, measure=measure.pk, health=health.pk)
    # The township's and the county's queues.
    ids["reported"] = _case(
        _home(VILLAGE_A, "孙三", make_id_number(sequence=620)), u["cadre_a"], status=Status.REPORTED
    ).pk
    ids["approved"] = _case(
        _home(VILLAGE_A, "周四", make_id_number(sequence=630)),
        u["cadre_a"],
        status=Status.TOWNSHIP_APPROVED,
    ).pk
    # A department of the county whose name is markup, its key, and a list it pushed.
    county = Region.objects.get(pk=COUNTY)
    department = department_create(
        by=u["admin"], name=IMG + "医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region=county
    )
    token, _ = department_key_issue(by=u["admin"], department=department, name=SCRIPT)
    wu = _home(VILLAGE_A, "吴五", ID_WU)
    zheng = _home(VILLAGE_A, "郑六", ID_ZHENG)
    received = receive_json(
        department=department,
        batch_key="2026-attack",
        rows=[
            {"姓名": "吴五", "身份证号": ID_WU, "预警类型": SCRIPT, "说明": IMG},
            {"姓名": "郑六", "身份证号": ID_ZHENG, "预警类型": IMG},
            {"姓名": SCRIPT, "身份证号": "bad" + ID_APPLICANT, "预警类型": "住院"},
        ],
    )
    assert process_batch(received.batch.pk) == "done"
    # The county sends the list's clues down to the village (下发批次).
    round_dispatch(
        round_id=DispatchRound.objects.get(batch_id=received.batch.pk).pk, by=u["approver"]
    )
    ids.update(department=department.pk, key=token.pk, batch=received.batch.pk, wu=wu.pk)
    ids["clue_verifying"] = Clue.objects.get(household=wu).pk
    done = Clue.objects.get(household=zheng)
    clue_verify(clue_id=done.pk, by=u["cadre_a"], outcome="not_eligible", note=SCRIPT)
    ids["clue_done"] = done.pk
    # Two farmers' own applications (not registered): one waiting for the township, one
    # accepted and waiting for the village.
    application = self_application_submit(
        name="script alert 申报人",
        phone=PHONE_APPLICANT,
        id_number=ID_APPLICANT,
        difficulty=IMG + SCRIPT,
        village=VILLAGE_A,
        risk_type="01",
    )
    ids.update(clue_pending=application.clue_id, application=application.pk)
    second = self_application_submit(
        name="冯七",
        phone=PHONE_APPLICANT_2,
        id_number=ID_APPLICANT_2,
        difficulty="看病花费大",
        village=VILLAGE_A,
        risk_type="01",
    )
    clue_accept(clue_id=second.clue_id, by=u["reviewer_1"])
    ids.update(clue_unregistered=second.clue_id, application_2=second.pk)
    # A notification to each role of the region, and the county's yearly records.
    for region, role in (
        (VILLAGE_A, Role.VILLAGE_CADRE),
        (TOWNSHIP_1, Role.TOWNSHIP_REVIEWER),
        (COUNTY, Role.COUNTY_APPROVER),
    ):
        note = Notification.objects.create(
            region_id=region, role=role, case=draft, kind="overdue", message=SCRIPT, key=role
        )
        ids[f"note_{role}"] = note.pk
    ids["threshold"] = threshold_save(
        by=u["admin"], region=county, year=TODAY.year, medical_expense_over=Decimal("26000")
    ).pk
    ids["line"] = monitoring_line_save(
        by=u["admin"], region=county, year=TODAY.year, amount=Decimal("8000"), source=SCRIPT
    ).pk
    # An upload whose rejected row holds a full ID and phone number (of nobody registered).
    ids["import"] = registry_import(
        data=(
            "户编号,姓名,身份证号,与户主关系,劳动技能,联系电话\n"
            f"63012110020188888,{SCRIPT},{ID_IMPORTED},户主,普通劳动力,{PHONE_IMPORTED}\n"
        ).encode(),
        filename=f"{IMG}.csv",
        by=u["cadre_a"],
        scope_prefix=Region.prefix_of_code(VILLAGE_A),
        kind=RegistryImport.Kind.MEMBERS,
    ).pk
    # An audited reveal whose reason is markup.
    member_reveal(
        member=family.members.get(relation="head"), field="phone", by=u["cadre_a"], reason=SCRIPT
    )
    _build_other_county(world)


def _build_other_county(world: World) -> None:
    """One of each kind in 多巴村 of 湟中区: outside every region of 东关村's people."""
    u, ids = world.users, world.ids
    other = _home(OTHER_VILLAGE, "钱七宝", ID_OTHER, PHONE_OTHER)
    case = _case(other, None, green_channel=True)
    consent = consent_record(
        case=case,
        by=_other_cadre(),
        signed_on=TODAY - timedelta(days=3),
        scan=ContentFile(PDF, name="consent.pdf"),
    )
    measure = measure_record_create(
        case=case,
        by=_other_cadre(),
        category=MeasureCategory.objects.get(code="health"),
        description="医疗救助",
        department="区医保局",
        start_on=TODAY - timedelta(days=5),
    )
    region = Region.objects.get(pk=OTHER_COUNTY)
    department = department_create(
        by=u["admin"], name="湟中区医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region=region
    )
    token, _ = department_key_issue(by=u["admin"], department=department, name="推送")
    received = receive_json(
        department=department,
        batch_key="湟中-attack",
        rows=[{"姓名": "钱七宝", "身份证号": ID_OTHER, "预警类型": "住院"}],
    )
    assert process_batch(received.batch.pk) == "done"
    application = self_application_submit(
        name="周九如",
        phone="13912345678",
        id_number=ID_OTHER_APPLICANT,
        difficulty="家里缺劳力",
        village=OTHER_VILLAGE,
        risk_type="01",
    )
    note = Notification.objects.create(
        region_id=OTHER_VILLAGE, role=Role.VILLAGE_CADRE, kind="overdue", message="x", key="o"
    )
    ids.update(
        other_household=other.pk,
        other_member=other.members.get().pk,
        other_case=case.pk,
        other_consent=consent.pk,
        other_measure=measure.pk,
        other_department=department.pk,
        other_key=token.pk,
        other_batch=received.batch.pk,
        other_clue=application.clue_id,
        other_application=application.pk,
        other_note=note.pk,
        other_threshold=threshold_save(
            by=u["admin"], region=region, year=TODAY.year, medical_expense_over=Decimal("9")
        ).pk,
        other_line=monitoring_line_save(
            by=u["admin"], region=region, year=TODAY.year, amount=Decimal("8000")
        ).pk,
    )


def _other_cadre():
    user, _ = User.objects.get_or_create(
        username="cun_duoba",
        defaults={"role": Role.VILLAGE_CADRE, "region_id": OTHER_VILLAGE},
    )
    return user


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The scenario, made once for the module and rolled back after it."""
    media = tmp_path_factory.mktemp("attack-media")
    with (
        override_settings(MEDIA_ROOT=media),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        try:
            text = (DEMO_DIR / "regions.csv").read_text("utf-8")
            text += f"{OTHER_TOWNSHIP},多巴镇\n{OTHER_VILLAGE},多巴村\n"
            assert regions_load_csv(text=text)["errors"] == []
            users = {}
            for username, role, region in USERS:
                users[username] = User.objects.create_user(
                    username=username,
                    password="pw-" + username,
                    role=role,
                    region_id=region,
                    first_name=username,
                    is_staff=role in (Role.ADMIN, Role.AUDITOR),  # as the demo's
                )
            built = World(users=users)
            _build(built)
            built.media = media
            yield built
        finally:
            transaction.set_rollback(True)


@pytest.fixture
def media(world, settings):
    settings.MEDIA_ROOT = world.media


def _client(world, name, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(world.users[name])
    return client


# --- asking and judging ------------------------------------------------------------------

APPS = ("accounts", "households", "monitor", "interventions")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Error texts a Chinese user must never be shown: Django's English, a Python exception, a
# constraint's name.
FOREIGN = re.compile(r"Enter a|Ensure|This field|Select a|valid|Constraint|Field '|[a-z]+_[a-z_]+")
ERROR_BLOCKS = re.compile(
    r'<ul class="field-error"[^>]*>(.*?)</ul>|<div class="error"[^>]*>(.*?)</div>'
    r'|<li class="error"[^>]*>(.*?)</li>',
    re.S,
)


def snapshot() -> dict:
    """Every row of the project's tables (small in this scenario): what a refused request
    must leave as it was."""
    state = {}
    with connection.cursor() as cursor:
        for label in APPS:
            for model in apps.get_app_config(label).get_models(include_auto_created=True):
                table = model._meta.db_table
                sql = f"SELECT * FROM {connection.ops.quote_name(table)}"  # noqa: S608 - a model's table
                cursor.execute(sql)
                state[table] = sorted(map(repr, cursor.fetchall()))
    return state


def changed(before: dict, after: dict) -> list[str]:
    return sorted(table for table in before if before[table] != after[table])


@dataclass
class Answer:
    status: int
    text: str = ""
    location: str = ""
    error: str = ""
    writes: list = field(default_factory=list)
    html: bool = False


def ask(client, method: str, url: str, data=None, **extra) -> Answer:
    """One request; an exception the view let through is a 500 with its traceback's last
    line. The savepoint keeps the test's transaction usable after a database error."""
    before = snapshot() if method == "post" else None
    try:
        with transaction.atomic():
            response = getattr(client, method)(url, data if data is not None else {}, **extra)
    except Exception as exc:  # any exception the view lets through is the finding
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Answer(500, error=line[:300])
    if response.streaming:
        text = b"".join(response.streaming_content).decode("utf-8", "replace")
    else:
        text = response.content.decode("utf-8", "replace")
    return Answer(
        response.status_code,
        text=text,
        location=response.get("Location", ""),
        writes=changed(before, snapshot()) if before is not None else [],
        html=response.get("Content-Type", "").startswith("text/html"),
    )


def error_texts(html: str) -> list[str]:
    found = []
    for match in ERROR_BLOCKS.finditer(html):
        text = re.sub(r"<[^>]+>", " ", next(g for g in match.groups() if g is not None))
        found.append(" ".join(text.split()))
    return found


def judge(answer: Answer, *, refuse: bool) -> str | None:
    """What is wrong with an answer to garbage, or None. `refuse`: the input is invalid,
    so the request must be refused (a 4xx, or a redirect that wrote nothing)."""
    if answer.status >= 500:
        return f"{answer.status} {answer.error}"
    if answer.status >= 400 and answer.writes:
        return f"{answer.status} but wrote {answer.writes}"
    if refuse and answer.writes:
        return f"{answer.status} accepted it and wrote {answer.writes}"
    if answer.status == 400 and answer.html and "<form" in answer.text:
        errors = error_texts(answer.text)
        if not errors:
            return "400 with a form but no message"
        for text in errors:
            if not CJK.search(text) or FOREIGN.search(text):
                return f"400 with a message not in Chinese: {text[:120]!r}"
    return None


def report(problems: list) -> str:
    return "\n".join(f"{who:<11} {what:<48} {why}" for who, what, why in problems)


# --- 1. garbage in every field of every form --------------------------------------------

HUGE = str(10**30)
LONG = "长" * 10_000
CONTROL = "a\x01\x08\x1b[31m\x7fb"
# Garbage by the kind of field: (value, whether any answer but a refusal is wrong). A list
# stands for the field sent several times.
GARBAGE = {
    "text": [(LONG, True), ("\x00", True), ("a\x00b", True), (["a", "b"], False)],
    # Free text without a length limit (a TextField): a long text may be kept.
    "longtext": [(LONG, False), ("a\x00b", True), (["a", "b"], False)],
    "date": [
        ("abc", True),
        ("2026-02-30", True),
        ("99999-01-01", True),
        (HUGE, True),
        ("\x00", True),
        (["2026-01-01", "abc"], True),
    ],
    "int": [("abc", True), ("-5", True), (HUGE, True), ("1e9", True), ("²", True), ("\x00", True)],
    "amount": [
        ("abc", True),
        ("-5", True),
        (HUGE, True),
        ("1e400", True),
        ("NaN", True),
        ("Infinity", True),
        ("\x00", True),
    ],
    "choice": [("nope", True), ("<script>", True), ("\x00", True), (["x", "y"], True)],
    "multi": [("nope", True), ("\x00", True), ([str(n) for n in range(300)], True)],
    # A primary key chosen from a list (the other region's is added per form).
    "pk": [("abc", True), ("-1", True), (HUGE, True), ("1e9", True), ("²", True), ("\x00", True)],
    "file": [("not a file", True)],
}


@dataclass
class Form:
    """A POST route: its address, the people who write through it (the first gets the full
    garbage, the others a shorter list) and who else its guard lets in (the shorter list:
    they are refused by role anyway), a base of plausible values, and each field's kind."""

    url: str
    writers: tuple
    others: tuple
    base: dict
    fields: dict
    extra: dict = field(default_factory=dict)  # field → more (value, refuse) pairs
    empty_ok: bool = False  # an empty POST is a legitimate request (a plan cleared)


def forms_of(w: World) -> dict:
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    draft, monitored = w["draft"], w["monitored"]
    health = str(w["health"])
    other_member = [(str(w["other_member"]), True)]
    # Another county's region is the administrator's to choose (approvers: the scope test).
    region_garbage = [(OTHER_COUNTY, False), ("abc", True), (HUGE, True), ("\x00", True)]
    return {
        "case-new-page": Form(
            f"/cases/new/?household={w['wu']}",
            ("cadre_a", "reviewer_1"),
            ("approver",),
            {
                "category": "sudden",
                "risk_codes": ["01"],
                "found_on": TODAY.isoformat(),
                "channel": "cadre_screening",
                "description": "因病",
            },
            {
                "category": "choice",
                "risk_codes": "multi",
                "found_on": "date",
                "channel": "choice",
                "description": "text",
            },
            {"found_on": [((TODAY + timedelta(days=1)).isoformat(), True)]},
        ),
        "case-edit-page": Form(
            f"/cases/{draft}/edit/",
            ("cadre_a",),
            ("reviewer_1", "approver"),
            {
                "category": "unstable",
                "risk_codes": ["01"],
                "found_on": (TODAY - timedelta(days=20)).isoformat(),
                "channel": "cadre_screening",
                "description": "x",
            },
            {
                "category": "choice",
                "risk_codes": "multi",
                "found_on": "date",
                "channel": "choice",
                "description": "text",
            },
        ),
        "case-transition-page": Form(
            f"/cases/{draft}/transition/",
            ("cadre_a",),
            ("reviewer_1", "approver"),
            {"action": "report", "comment": ""},
            {"action": "choice", "comment": "text", "clearance_kind": "choice"},
            {"action": [("county_approve", True), ("withdraw", True), ("", True)]},
        ),
        "case-evidence-page home_visit": Form(
            f"/cases/{draft}/evidence/identification/home_visit/",
            ("cadre_a",),
            ("reviewer_1", "approver"),
            {
                "home_visit-visited_on": yesterday,
                "home_visit-visitors": "村干部",
                "home_visit-findings": "核实",
            },
            {
                "home_visit-visited_on": "date",
                "home_visit-visitors": "text",
                "home_visit-findings": "longtext",
            },
        ),
        "case-evidence-page cross_check": Form(
            f"/cases/{draft}/evidence/identification/cross_check/",
            ("cadre_a",),
            ("reviewer_1",),
            {
                "cross_check-checked_on": yesterday,
                **{
                    f"cross_check-result_{code}": "clear"
                    for code in (
                        "public_payroll",
                        "vehicle",
                        "commercial_housing",
                        "business_registration",
                    )
                },
            },
            {
                "cross_check-checked_on": "date",
                "cross_check-result_vehicle": "choice",
                "cross_check-note_vehicle": "text",
                "cross_check-note": "text",
            },
            # 发现 without a note is refused by the service.
            {"cross_check-result_vehicle": [("found", True)]},
        ),
        "case-official-visit-page": Form(
            f"/cases/{w['reported']}/official-visit/",
            ("reviewer_1", "approver"),
            ("cadre_a",),
            {
                "official-visited_on": yesterday,
                "official-visitors": "乡镇干部",
                "official-findings": "复核",
            },
            {
                "official-visited_on": "date",
                "official-visitors": "text",
                "official-findings": "longtext",
            },
        ),
        "case-evidence-page consent": Form(
            f"/cases/{draft}/evidence/identification/consent/",
            ("cadre_a",),
            ("reviewer_1",),
            {"consent-signed_on": yesterday, "consent-scan": "none"},
            {"consent-signed_on": "date", "consent-scan": "file"},
        ),
        "case-evidence-page appraisal": Form(
            f"/cases/{draft}/evidence/identification/appraisal/",
            ("cadre_a",),
            ("approver",),
            {
                "appraisal-held_on": yesterday,
                "appraisal-result": "passed",
                "appraisal-participants": "12",
                "appraisal-notes": "通过",
            },
            {
                "appraisal-held_on": "date",
                "appraisal-result": "choice",
                "appraisal-participants": "int",
                "appraisal-notes": "longtext",
            },
            {"appraisal-participants": [("99999", True)]},
        ),
        "case-evidence-page notice": Form(
            f"/cases/{draft}/evidence/identification/notice/",
            ("cadre_a",),
            ("reviewer_1",),
            {
                "notice-start_on": (TODAY - timedelta(days=8)).isoformat(),
                "notice-end_on": yesterday,
                "notice-objections": "",
                "notice-objections_resolved": "on",
            },
            {"notice-start_on": "date", "notice-end_on": "date", "notice-objections": "longtext"},
            {"notice-end_on": [((TODAY - timedelta(days=30)).isoformat(), True)]},
        ),
        "case-evidence-page clearance": Form(
            f"/cases/{monitored}/evidence/clearance/home_visit/",
            ("cadre_a",),
            ("approver",),
            {
                "home_visit-visited_on": yesterday,
                "home_visit-visitors": "村干部",
                "home_visit-findings": "核实",
            },
            {"home_visit-visited_on": "date", "home_visit-visitors": "text"},
        ),
        "case-monthly-visit-page": Form(
            f"/cases/{monitored}/monthly-visits/",
            ("cadre_a",),
            ("reviewer_1", "approver"),
            {"monthly-visited_on": TODAY.isoformat(), "monthly-visitors": "村干部"},
            {
                "monthly-visited_on": "date",
                "monthly-visitors": "text",
                "monthly-findings": "longtext",
            },
            # The base has no findings (a required field): only the garbage is tried.
        ),
        "case-aid-plan-page": Form(
            f"/cases/{monitored}/aid/plan/",
            ("cadre_a", "reviewer_1"),
            ("approver",),
            {
                "summary": "计划",
                "responsible_person": "张三",
                "item_count": "1",
                "item0-category": health,
                "item0-description": "医疗救助",
            },
            {
                "summary": "text",
                "responsible_person": "text",
                "item0-category": "pk",
                "item0-description": "text",
            },
            {
                "item_count": [
                    ("abc", True),
                    ("-5", True),
                    ("1e9", True),
                    ("²", True),
                    ("\x00", True),
                    (HUGE, False),
                    ("100000", False),
                    (["1", "x"], True),
                ]
            },
            empty_ok=True,
        ),
        "case-measure-new-page": Form(
            f"/cases/{monitored}/aid/measures/",
            ("cadre_a", "reviewer_1"),
            ("approver",),
            {
                "measure-category": health,
                "measure-description": "医疗救助",
                "measure-department": "县医保局",
                "measure-start_on": yesterday,
                "measure-amount": "100",
                "measure-status": "in_progress",
            },
            {
                "measure-category": "pk",
                "measure-description": "text",
                "measure-department": "text",
                "measure-start_on": "date",
                "measure-end_on": "date",
                "measure-amount": "amount",
                "measure-beneficiaries": "pk",
                "measure-status": "choice",
            },
            {
                "measure-beneficiaries": other_member,
                "measure-end_on": [((TODAY - timedelta(days=30)).isoformat(), True)],
            },
        ),
        "measure-edit-page": Form(
            f"/measures/{w['measure']}/",
            ("cadre_a", "reviewer_1"),
            ("approver",),
            {"description": "医疗救助", "amount": "100", "status": "in_progress"},
            {"description": "text", "end_on": "date", "amount": "amount", "status": "choice"},
            {"end_on": [((TODAY - timedelta(days=300)).isoformat(), True)]},
        ),
        "household-income-page": Form(
            f"/households/{w['family']}/income/",
            ("cadre_a", "reviewer_1"),
            (),
            {"year": "2026", "wage_income": "5000"},
            {
                "year": "int",
                "period_end": "date",
                "household_size": "int",
                "wage_income": "amount",
                "medical_expense": "amount",
                "note": "text",
            },
            {"year": [("99999", True), ("1999", True)]},
        ),
        "member-reveal-page": Form(
            f"/households/{w['family']}/members/{w['head']}/reveal/",
            ("cadre_a", "reviewer_1", "approver"),
            (),
            {"field": "phone", "reason": "入户核实"},
            {"field": "choice", "reason": "text"},
            {"reason": [("a", True), ("  ", True)]},
        ),
        "clue-verify-page": Form(
            f"/clues/{w['clue_verifying']}/verify/",
            ("cadre_a",),
            ("reviewer_1", "approver"),
            {"outcome": "not_eligible", "note": "核实无困难"},
            {"outcome": "choice", "note": "text", "category": "choice", "risk_codes": "multi"},
            {"note": [("a", True)], "outcome": [("identify", True)]},
        ),
        "clue-verify-page unregistered": Form(
            f"/clues/{w['clue_unregistered']}/verify/",
            ("cadre_a",),
            (),
            {"outcome": "identify", "note": "核实困难", "category": "sudden"},
            {"household": "pk"},
            {"household": [(str(w["other_household"]), True)]},
        ),
        "clue-reveal-applicant-page": Form(
            f"/clues/{w['clue_pending']}/reveal-applicant/",
            ("cadre_a", "reviewer_1", "approver"),
            (),
            {"application": str(w["application"]), "reason": "电话联系申报人"},
            {"application": "pk", "reason": "text"},
            {
                "application": [(str(w["other_application"]), True), ("١", True)],
                "reason": [("a", True)],
            },
        ),
        "department-list-page": Form(
            "/manage/departments/",
            ("approver", "admin"),
            (),
            {"name": "县民政局", "kind": "civil_affairs", "region": COUNTY},
            {"name": "text", "kind": "choice", "region": "choice"},
            {"region": region_garbage[1:], "name": [("   ", True)]},
        ),
        "department-page": Form(
            f"/manage/departments/{w['department']}/",
            ("approver", "admin"),
            (),
            {"name": "县医保局", "active": "on"},
            {"name": "text"},
            {"name": [("   ", True)]},
        ),
        "department-key-issue-page": Form(
            f"/manage/departments/{w['department']}/keys/",
            ("approver", "admin"),
            (),
            {"name": "推送"},
            {"name": "text"},
            {"name": [("   ", True)]},
        ),
        "threshold-list-page": Form(
            "/manage/thresholds/",
            ("approver", "admin"),
            (),
            {"region": COUNTY, "year": "2031", "medical_expense_over": "1000"},
            {"region": "choice", "year": "int", "medical_expense_over": "amount"},
            {"year": [("99999", True), ("0", True)], "region": region_garbage[:1]},
        ),
        "threshold-page": Form(
            f"/manage/thresholds/{w['threshold']}/",
            ("approver", "admin"),
            (),
            {"region": COUNTY, "year": str(TODAY.year), "medical_expense_over": "1000"},
            {"region": "choice", "year": "int", "medical_expense_over": "amount"},
            {"year": [("99999", True), ("32768", True)], "region": region_garbage[:1]},
        ),
        "line-list-page": Form(
            "/manage/lines/",
            ("approver", "admin"),
            (),
            {"region": COUNTY, "year": "2031", "amount": "8000", "source": "文件"},
            {"region": "choice", "year": "int", "amount": "amount", "source": "text"},
            {"year": [("99999", True)], "region": region_garbage[:1]},
        ),
        "line-page": Form(
            f"/manage/lines/{w['line']}/",
            ("approver", "admin"),
            (),
            {"region": COUNTY, "year": str(TODAY.year), "amount": "8000", "source": "文件"},
            {"region": "choice", "year": "int", "amount": "amount", "source": "text"},
            {"year": [("99999", True)]},
        ),
        "password-change": Form(
            "/password/",
            ("cadre_a", "admin"),
            (),
            {
                "old_password": "wrong",
                "new_password1": "Zx9-long-enough",
                "new_password2": "Zx9-long-enough",
            },
            {"old_password": "text", "new_password1": "text", "new_password2": "text"},
        ),
    }


def payloads(form: Form, full: bool):
    """(label, data, refuse): the base with one field made garbage at a time (all of them
    for a writer; the first garbage of each field for the others), and the base with every
    field left out."""
    yield "nothing", {}, not form.empty_ok
    for name, kind in form.fields.items():
        values = GARBAGE[kind] + form.extra.get(name, [])
        for value, refuse in values if full else values[:1]:
            shown = repr(value if not isinstance(value, str) or len(value) < 20 else value[:8])
            yield f"{name}={shown}", {**form.base, name: value}, refuse
    for name, values in form.extra.items():
        if name not in form.fields:
            for value, refuse in values if full else values[:1]:
                yield f"{name}={value!r}"[:60], {**form.base, name: value}, refuse


def _files(data: dict) -> dict:
    """A file field of the base ("none") becomes a real upload; garbage stays text."""
    return {
        name: ContentFile(PDF, name="scan.pdf") if value == "none" else value
        for name, value in data.items()
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "case-new-page",
        "case-edit-page",
        "case-transition-page",
        "case-evidence-page home_visit",
        "case-evidence-page cross_check",
        "case-official-visit-page",
        "case-evidence-page consent",
        "case-evidence-page appraisal",
        "case-evidence-page notice",
        "case-evidence-page clearance",
        "case-monthly-visit-page",
        "case-aid-plan-page",
        "case-measure-new-page",
        "measure-edit-page",
        "household-income-page",
        "member-reveal-page",
        "clue-verify-page",
        "clue-verify-page unregistered",
        "clue-reveal-applicant-page",
        "department-list-page",
        "department-page",
        "department-key-issue-page",
        "threshold-list-page",
        "threshold-page",
        "line-list-page",
        "line-page",
        "password-change",
    ],
)
def test_garbage_in_any_field_is_refused_in_chinese_and_writes_nothing(world, media, name):
    form = forms_of(world)[name]
    problems = []
    for username in form.writers + form.others:
        client = _client(world, username)
        for label, data, refuse in payloads(form, full=username == form.writers[0]):
            answer = ask(client, "post", form.url, _files(data))
            why = judge(answer, refuse=refuse)
            if why:
                problems.append((username, label, why))
    assert not problems, f"{name}:\n" + report(problems)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username, action",
    [
        ("approver", "county_approve"),
        ("reviewer_1", "township_approve"),
        ("cadre_a", "county_approve"),
    ],
)
def test_garbage_in_the_review_batch_is_refused_and_writes_nothing(world, username, action):
    """The county's (and township's) approval of several cases: a made-up action, ids that
    are no ids, too large for any column, another region's, or in the wrong state."""
    w, client, problems = world, _client(world, username), []
    unreachable = [str(w["other_case"]), str(w["draft"])]  # out of region; wrong state
    tries = [
        (f"action={value!r}", {"action": value, "cases": unreachable})
        for value in (
            "",
            "nope",
            "<script>",
            "\x00",
            HUGE,
            "report",
            "county_reject",
            "township_return",
            ["county_approve", "township_approve"],
        )
    ]
    tries += [
        (f"cases={label}", {"action": action, "cases": value})
        for label, value in (
            ("abc", ["abc"]),
            ("1e9", ["1e9"]),
            ("10**30", [HUGE]),
            ("²", ["²"]),
            ("-1", ["-1"]),
            ("١٢", ["١٢"]),
            ("\\x00", ["\x00"]),
            ("other region", [str(w["other_case"])]),
            ("wrong state", [str(w["draft"])]),
            ("1000 ids", [str(n) for n in range(10_000, 11_000)]),
            ("none", []),
        )
    ]
    tries += [
        ("comment=LONG", {"action": action, "cases": unreachable, "comment": LONG}),
        ("comment=\\x00", {"action": action, "cases": unreachable, "comment": "a\x00b"}),
        ("nothing", {}),
    ]
    for label, data in tries:
        answer = ask(client, "post", "/review/batch/", data)
        why = judge(answer, refuse=True)
        if why:
            problems.append((username, label, why))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_a_nul_in_a_batch_comment_is_refused_before_anything_is_written(world):
    """The batch form's comment goes straight to the transition service: a NUL character
    is stored by SQLite and refused by PostgreSQL with a server error."""
    client = _client(world, "approver")
    answer = ask(
        client,
        "post",
        "/review/batch/",
        {"action": "county_approve", "cases": [world["approved"]], "comment": "同意\x00"},
    )
    assert judge(answer, refuse=True) is None
    assert Case.objects.get(pk=world["approved"]).status == Status.TOWNSHIP_APPROVED


REFLECTED = "<script>alert(2)</script>"


def _get_garbage(w: World) -> list[tuple[tuple, str]]:
    """(roles, address) of every list and object page with garbage in its query string."""
    junk = f"page=abc&status={REFLECTED}&x=%00"
    people = PEOPLE
    return [
        ((*people, "admin", "auditor"), f"/?{junk}"),
        (people, f"/cases/?page=abc&status={REFLECTED}&category=%00&overdue=2"),
        (people, "/cases/?page=99999"),
        (people, "/cases/?page=-1"),
        (people, f"/cases/?page={HUGE}"),
        (people, f"/cases/?status=draft&status={REFLECTED}"),
        (
            people,
            f"/clues/?status={REFLECTED}&channel=%00&outcome=x&overdue=2&village={HUGE}&page=abc",
        ),
        (people, "/clues/?page=99999&village=630122100201"),
        (people, f"/notifications/?{junk}"),
        (("reviewer_1", "approver"), f"/review/?{junk}"),
        (("reviewer_1", "approver"), "/batches/?page=99999"),
        (("reviewer_1", "approver"), f"/batches/{w['batch']}/?outcome={REFLECTED}&page=abc"),
        (("reviewer_1", "approver"), f"/batches/{w['batch']}/?outcome=%00&page={HUGE}"),
        (("reviewer_1", "approver"), f"/batches/{w['batch']}/status/?{junk}"),
        (people, "/households/?q=%00"),
        (people, f"/households/?q={REFLECTED}"),
        (people, f"/households/?q={HUGE}"),
        (people, f"/households/?q={'长' * 3000}"),
        (people, "/households/?q=630121&page=abc"),
        (people, "/households/?q=%01%02%1b"),
        (("cadre_a", "reviewer_1"), f"/households/import/?{junk}"),
        (people, f"/cases/notice-list/?start=2026-02-30&end={REFLECTED}"),
        (people, "/cases/notice-list/?start=99999-01-01&end=%00"),
        (people, f"/cases/notice-list/?start={HUGE}&end=-1"),
        (people, f"/cases/{w['draft']}/?{junk}"),
        (people, f"/cases/{w['monitored']}/aid/?{junk}"),
        (people, f"/cases/{w['monitored']}/clearance/?{junk}"),
        (people, f"/households/{w['family']}/?{junk}"),
        (people, f"/clues/{w['clue_pending']}/?{junk}"),
        (people, f"/measures/{w['measure']}/?{junk}"),
        (people, f"/cases/{w['draft']}/edit/?{junk}"),
        (MANAGERS, f"/manage/?{junk}"),
        (MANAGERS, "/manage/departments/?page=abc"),
        (MANAGERS, "/manage/thresholds/?page=-1"),
        (MANAGERS, f"/manage/lines/?page={HUGE}"),
        (MANAGERS, f"/manage/departments/{w['department']}/?{junk}"),
        (("anonymous",), f"/apply/?village={HUGE}&county={REFLECTED}"),
        (("anonymous",), "/apply/?village=%00&county=63012"),
        (("anonymous",), f"/login/?next={REFLECTED}"),
        *((people, f"/{path}/{HUGE}/") for path in ("cases", "households", "clues", "measures")),
        (people, f"/cases/{w['draft']}/consents/{HUGE}/scan/"),
        (("reviewer_1",), f"/batches/{HUGE}/"),
        (MANAGERS, f"/manage/departments/{HUGE}/"),
        (MANAGERS, f"/manage/lines/{HUGE}/delete/"),
    ]


@pytest.mark.django_db
def test_garbage_in_query_strings_never_gives_a_server_error_nor_reflects_markup(world, media):
    problems = []
    clients = {"anonymous": Client()}
    for roles, url in _get_garbage(world):
        for username in roles:
            if username not in clients:
                clients[username] = _client(world, username)
            answer = ask(clients[username], "get", url)
            if answer.status >= 500:
                problems.append((username, url[:48], f"{answer.status} {answer.error}"))
            elif REFLECTED in answer.text:
                problems.append((username, url[:48], "the query comes back as markup"))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_garbage_names_the_household_to_file_for(world):
    """登记监测对象 names its household in the query string (?household=…)."""
    problems = []
    for username in PEOPLE:
        client = _client(world, username)
        for value in ("abc", "²", "١", HUGE, "-1", "", "%00", str(world["other_household"])):
            for method in ("get", "post"):
                url = f"/cases/new/?household={value}"
                data = {"category": "sudden"} if method == "post" else None
                answer = ask(client, method, url, data)
                if answer.status != 404 or answer.writes:
                    problems.append((username, f"{method} {url}"[:48], answer.status))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_evidence_of_a_stage_or_kind_that_does_not_exist_writes_nothing(world):
    client = _client(world, "cadre_a")
    problems = []
    for stage, kind in (
        ("bogus", "home_visit"),
        ("identification", "bogus"),
        ("clearance", "consent"),
        ("%3Cscript%3E", "%3Cscript%3E"),
        ("identification", "home_visit%00"),
    ):
        url = f"/cases/{world['draft']}/evidence/{stage}/{kind}/"
        data = {f"{kind}-visited_on": TODAY.isoformat(), f"{kind}-visitors": "x"}
        answer = ask(client, "post", url, data)
        if judge(answer, refuse=True) or answer.status not in (302, 404):
            problems.append(("cadre_a", url[:48], f"{answer.status} {answer.error}"))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_posts_to_pages_without_fields_answer_garbage_without_a_server_error(world):
    """Accept, screening, mark-as-read, revoke and delete take no fields: whatever else is
    posted is ignored, and a role the action is not for writes nothing."""
    w, problems = world, []
    junk = {"x": ["\x00", HUGE], "next": "javascript:alert(1)", "application": "²"}
    tries = [
        ("cadre_a", f"/clues/{w['clue_pending']}/accept/", True),
        ("approver", f"/clues/{w['clue_pending']}/accept/", True),
        ("cadre_a", "/batches/screening/", True),
        ("cadre_a", f"/notifications/{w['note_village_cadre']}/read/", False),
        ("reviewer_1", f"/clues/{w['clue_pending']}/accept/", False),
        ("approver", f"/manage/departments/{w['department']}/keys/{w['key']}/revoke/", False),
        ("approver", f"/manage/thresholds/{w['threshold']}/delete/", False),
        ("approver", f"/manage/lines/{w['line']}/delete/", False),
        ("approver", "/batches/screening/", False),
    ]
    for username, url, refuse in tries:
        answer = ask(_client(w, username), "post", url, junk)
        why = judge(answer, refuse=refuse)
        if why:
            problems.append((username, url[:48], why))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_garbage_uploads_to_the_registry_import_never_give_a_server_error(world):
    problems = []
    files = [
        ("garbage.csv", b"\x00\x01\xff\xfe garbage \x00"),
        ("fake.xlsx", b"PK\x03\x04 not really a zip"),
        (f"{SCRIPT}.csv", "户编号,村代码,户类型\n\x00,630121100201,一般农户\n".encode()),
        ("empty.csv", b""),
        ("gbk.csv", "户编号,村代码,户类型\n".encode("gbk") + b"\xff\xff\xff\n"),
        ("huge-number.csv", f"户编号,村代码,户类型\n{HUGE},{HUGE},一般农户\n".encode()),
    ]
    for username in ("cadre_a", "reviewer_1"):
        client = _client(world, username)
        for name, content in files:
            for kind in ("detect", "nope", "members"):
                data = {"kind": kind, "file": ContentFile(content, name=name)}
                answer = ask(client, "post", "/households/import/", data)
                why = judge(answer, refuse=False)
                if why:
                    problems.append((username, f"{name} {kind}", why))
        answer = ask(client, "post", "/households/import/", {"kind": "detect", "file": "x"})
        if judge(answer, refuse=True):
            problems.append((username, "file=text", judge(answer, refuse=True)))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_garbage_on_the_public_application_page_is_refused_and_writes_nothing(world):
    client, problems = Client(), []
    base = {
        "name": "王五",
        "phone": "13911112222",
        "id_number": make_id_number(sequence=990),
        "difficulty": "看病花费大",
        "village": VILLAGE_A,
        "risk_type": "01",
    }
    garbage = {
        "name": [LONG, "\x00", "123"],
        "phone": [HUGE, "abc"],
        "id_number": ["abc", HUGE, "\x00"],
        "village": [HUGE, REFLECTED, "\x00", OTHER_TOWNSHIP],
        "risk_type": ["nope", "\x00"],
        "difficulty": [LONG],
    }
    for name, values in garbage.items():
        for value in values:
            answer = ask(client, "post", "/apply/", {**base, name: value})
            why = judge(answer, refuse=True)
            if why or REFLECTED in answer.text:
                problems.append(("anonymous", f"{name}={value[:10]!r}", why or "reflected"))
    assert not problems, report(problems)


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore::django.core.cache.CacheKeyWarning")  # the long username
def test_garbage_at_the_login_is_refused(world):
    client, problems = Client(), []
    for data in (
        {"username": "\x00", "password": "x"},
        {"username": LONG, "password": LONG},
        {"username": ["cadre_a", "admin"], "password": "pw-cadre_a"},
        {"username": "cadre_a", "password": "\x00"},
        {},
    ):
        answer = ask(client, "post", "/login/", data)
        if answer.status >= 500 or answer.status == 302:
            problems.append(("anonymous", repr(data)[:48], f"{answer.status} {answer.error}"))
    assert not problems, report(problems)


# --- 2. markup people typed is shown as text ---------------------------------------------

ESCAPED = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"]
RAW = ["<script>alert", "<img src=x", "onerror=alert(1)>"]


def _pages(w: World) -> dict:
    """Every page that shows something people typed, for each role that opens it."""
    people = PEOPLE
    reviewers = ("reviewer_1", "approver")
    return {
        "/": people,
        "/review/": reviewers,
        "/cases/": people,
        "/clues/?status=": people,
        "/notifications/": people,
        "/households/": people,
        f"/households/?q={w['family']}": people,
        f"/households/{w['family']}/": people,
        f"/households/{w['family']}/income/": ("cadre_a",),
        f"/households/{w['family']}/members/{w['head']}/reveal/": people,
        f"/cases/{w['draft']}/": people,
        f"/cases/{w['draft']}/edit/": people,
        f"/cases/{w['monitored']}/": people,
        f"/cases/{w['monitored']}/aid/": people,
        f"/cases/{w['monitored']}/clearance/": people,
        f"/measures/{w['measure']}/": people,
        f"/clues/{w['clue_pending']}/": people,
        f"/clues/{w['clue_verifying']}/": people,
        f"/clues/{w['clue_done']}/": people,
        "/cases/notice-list/": people,
        "/batches/": reviewers,
        f"/batches/{w['batch']}/": reviewers,
        f"/batches/{w['batch']}/status/": reviewers,
        "/manage/": MANAGERS,
        "/manage/departments/": MANAGERS,
        f"/manage/departments/{w['department']}/": MANAGERS,
        f"/manage/departments/{w['department']}/keys/{w['key']}/revoke/": MANAGERS,
        "/manage/lines/": MANAGERS,
        f"/manage/lines/{w['line']}/": MANAGERS,
        f"/manage/lines/{w['line']}/delete/": MANAGERS,
        "/manage/thresholds/": MANAGERS,
        "/admin/accounts/auditevent/": ("auditor",),
    }


@pytest.mark.django_db
def test_markup_people_typed_is_shown_escaped_on_every_page(world, media):
    problems, shown = [], set()
    for url, roles in _pages(world).items():
        for username in roles:
            answer = ask(_client(world, username), "get", url)
            if answer.status != 200:
                problems.append((username, url[:48], f"{answer.status} {answer.error}"))
                continue
            raw = [text for text in RAW if text in answer.text]
            if raw:
                problems.append((username, url[:48], f"unescaped: {raw}"))
            shown |= {text for text in ESCAPED if text in answer.text}
    assert not problems, report(problems)
    assert shown == set(ESCAPED)  # the texts were on the pages, as text


@pytest.mark.django_db
def test_markup_in_the_answers_to_posts_is_escaped(world, media):
    """Forms re-shown with what was typed, the batch results (names of households), and the
    messages that name a record (a department created with a name that is markup)."""
    w, problems = world, []
    posts = [
        ("approver", "/review/batch/", {"action": "county_approve", "cases": [str(w["draft"])]}),
        ("cadre_a", f"/cases/{w['draft']}/transition/", {"action": "report", "comment": SCRIPT}),
        ("cadre_a", f"/clues/{w['clue_verifying']}/verify/", {"outcome": IMG, "note": SCRIPT}),
        (
            "cadre_a",
            f"/cases/{w['monitored']}/aid/measures/",
            {"measure-description": SCRIPT, "measure-department": IMG, "measure-amount": IMG},
        ),
        (
            "cadre_a",
            f"/households/{w['family']}/members/{w['head']}/reveal/",
            {"field": IMG, "reason": SCRIPT},
        ),
        (
            "approver",
            f"/clues/{w['clue_pending']}/reveal-applicant/",
            {"application": str(w["application"]), "reason": "x" + IMG * 20},
        ),
        ("admin", "/manage/departments/", {"name": SCRIPT, "kind": "water", "region": COUNTY}),
        ("admin", f"/manage/departments/{w['department']}/keys/", {"name": SCRIPT}),
        ("admin", "/manage/lines/", {"region": COUNTY, "year": IMG, "amount": "1", "source": IMG}),
        (
            "cadre_a",
            "/households/import/",
            {
                "kind": "detect",
                "file": ContentFile(
                    "户编号,村代码,户类型\n63012110020199999,630121100201,<script>alert(1)</script>\n".encode(),
                    name=f"{IMG}.csv",
                ),
            },
        ),
    ]
    for username, url, data in posts:
        client = _client(w, username)
        with transaction.atomic():
            response = client.post(url, data, follow=True)
            text = response.content.decode()
            transaction.set_rollback(True)
        raw = [piece for piece in RAW if piece in text]
        if raw or response.status_code >= 500:
            problems.append((username, url[:48], f"{response.status_code} unescaped: {raw}"))
    assert not problems, report(problems)


def test_the_svg_charts_escape_their_labels():
    from monitor.charts import bar_chart

    svg = str(bar_chart([SCRIPT, IMG], [(IMG, [1, 2]), (SCRIPT, [3, 4])]))
    assert not [piece for piece in RAW if piece in svg]
    assert "&lt;script&gt;" in svg and svg.startswith("<svg") and svg.endswith("</svg>")


# --- 3. redirects stay on this site --------------------------------------------------------

EVIL = [
    "https://evil.example/",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/\t/evil.example",
    "https:evil.example",
    "http://testserver@evil.example/",
    "///evil.example",
    "\x00//evil.example",
    "/cases/\r\nSet-Cookie: x=1",
]


def _stays_here(location: str) -> bool:
    from urllib.parse import urlsplit

    if not location or location != location.strip() or not location.isprintable():
        return False
    parts = urlsplit(location.replace("\\", "/"))
    return (
        parts.scheme in ("", "http", "https")
        and parts.netloc in ("", "testserver")
        and (parts.scheme == "" or parts.netloc == "testserver")
        and not location.startswith(("//", "/\\"))
    )


@pytest.mark.django_db
def test_next_never_sends_anyone_to_another_host(world):
    w, problems = world, []
    reviewer = _client(w, "reviewer_1")
    cadre = _client(w, "cadre_a")
    for target in EVIL:
        tries = [
            (cadre, f"/notifications/{w['note_village_cadre']}/read/", {"next": target}),
            (
                reviewer,
                f"/cases/{w['reported']}/transition/",
                {"action": "township_return", "comment": "补充材料", "next": target},
            ),
            (Client(), f"/login/?next={target}", {"username": "cadre_b", "password": "pw-cadre_b"}),
            (
                Client(),
                "/login/",
                {"username": "cadre_c", "password": "pw-cadre_c", "next": target},
            ),
        ]
        for client, url, data in tries:
            with transaction.atomic():
                response = client.post(url, data)
                transaction.set_rollback(True)
            location = response.get("Location", "")
            if response.status_code != 302 or not _stays_here(location):
                problems.append(
                    ("", f"{url[:30]} next={target!r}", f"{response.status_code} → {location!r}")
                )
    assert not problems, report(problems)


@pytest.mark.django_db
def test_a_next_of_our_own_is_followed(world):
    cadre = _client(world, "cadre_a")
    response = cadre.post(
        f"/notifications/{world['note_village_cadre']}/read/", {"next": "/cases/?status=draft"}
    )
    assert response.status_code == 302 and response["Location"] == "/cases/?status=draft"


# --- 4. CSRF ---------------------------------------------------------------------------------


def _post_routes(w: World) -> list[tuple[str, str]]:
    """(user, address) of every POST route, for a user its guard lets in."""
    forms = forms_of(w)
    routes = [(form.writers[0], form.url) for form in forms.values()]
    routes += [
        ("approver", "/review/batch/"),
        ("approver", "/review/spot-check/"),
        ("cadre_a", f"/notifications/{w['note_village_cadre']}/read/"),
        ("reviewer_1", f"/clues/{w['clue_pending']}/accept/"),
        ("approver", "/batches/screening/"),
        ("cadre_a", "/households/import/"),
        ("approver", f"/manage/departments/{w['department']}/keys/{w['key']}/revoke/"),
        ("approver", f"/manage/thresholds/{w['threshold']}/delete/"),
        ("approver", f"/manage/lines/{w['line']}/delete/"),
        ("cadre_a", "/logout/"),
        (None, "/login/"),
        (None, "/apply/"),
        (None, "/apply/lookup/"),
    ]
    return routes


@pytest.mark.django_db
def test_every_post_without_a_csrf_token_is_refused(world):
    problems = []
    for username, url in _post_routes(world):
        client = Client(enforce_csrf_checks=True)
        if username:
            client.force_login(world.users[username])
        for headers in ({}, {"HX-Request": "true"}):
            answer = ask(client, "post", url, {"reason": "x", "name": "x"}, headers=headers)
            if answer.status != 403 or answer.writes:
                problems.append((username or "anonymous", url[:48], answer.status))
    assert not problems, report(problems)


# --- 5. no full ID or phone number on any page ----------------------------------------------


@pytest.mark.django_db
def test_no_page_shows_a_full_id_or_phone_number(world, media):
    """Every page of every role over people whose numbers are known (the reveals, which
    are audited POST answers, excepted)."""
    from tests.pages.test_every_page import ROUTES, page_routes

    w = world
    objects = {
        "case": [w["draft"], w["monitored"], w["other_case"]],
        "household": [w["family"], w["zhao"], w["other_household"]],
        "clue": [w["clue_pending"], w["clue_verifying"], w["clue_done"], w["other_clue"]],
        "batch": [w["batch"], w["other_batch"]],
        "measure": [w["measure"], w["other_measure"]],
        "department": [w["department"], w["other_department"]],
        "threshold": [w["threshold"], w["other_threshold"]],
        "line": [w["line"], w["other_line"]],
        "notification": [w["note_village_cadre"]],
    }
    from django.urls import reverse

    urls = []
    for name in page_routes():
        route = ROUTES[name]
        if route.post_only:
            continue
        if route.kind is None:
            urls.append(reverse(name))
        elif route.query:
            urls += [f"{reverse(name)}?{route.query}={pk}" for pk in objects["household"]]
        elif route.kind == "consent":
            urls.append(reverse(name, args=[w["draft"], w["consent"]]))
        elif route.kind == "registry_import":
            urls.append(reverse(name, args=[w["import"]]))
        elif route.kind == "member":
            urls.append(reverse(name, args=[w["family"], w["head"]]))
        elif route.kind == "key":
            urls.append(reverse(name, args=[w["department"], w["key"]]))
        elif route.kind in objects:
            kwargs = dict(route.fixed)
            urls += [reverse(name, kwargs={"pk": pk, **kwargs}) for pk in objects[route.kind]]
    urls += ["/clues/?status=", "/households/?q=赵", f"/households/?q={w['family']}"]
    problems, shown = [], 0
    for username in [*w.users, "anonymous"]:
        client = Client() if username == "anonymous" else _client(w, username)
        for url in urls:
            answer = ask(client, "get", url)
            shown += answer.status == 200
            found = [number for number in NUMBERS if number in answer.text]
            if found or answer.status >= 500:
                problems.append((username, url[:48], f"{answer.status} {found}"))
    assert not problems, report(problems)
    assert shown > 150  # the pages were seen, not refused


# --- 6. another region's objects, through POST -----------------------------------------------


def _foreign_posts(w: World) -> list[tuple[tuple, str, dict]]:
    """POSTs naming an object of the other county (or a pair that does not belong together),
    with data that would be accepted for an object of the user's own region."""
    today, yesterday = TODAY.isoformat(), (TODAY - timedelta(days=1)).isoformat()
    case, people = w["other_case"], PEOPLE
    return [
        (people, f"/cases/{case}/transition/", {"action": "withdraw", "comment": "撤销原因"}),
        (
            people,
            f"/cases/{case}/edit/",
            {
                "category": "sudden",
                "risk_codes": ["01"],
                "found_on": today,
                "channel": "cadre_screening",
            },
        ),
        (
            people,
            f"/cases/{case}/evidence/identification/home_visit/",
            {
                "home_visit-visited_on": yesterday,
                "home_visit-visitors": "x",
                "home_visit-findings": "x",
            },
        ),
        (
            people,
            f"/cases/{case}/monthly-visits/",
            {"monthly-visited_on": today, "monthly-visitors": "x", "monthly-findings": "x"},
        ),
        (people, f"/cases/{case}/aid/plan/", {"summary": "x", "item_count": "0"}),
        (
            people,
            f"/cases/{case}/aid/measures/",
            {
                "measure-category": str(w["health"]),
                "measure-description": "x",
                "measure-department": "x",
                "measure-start_on": today,
                "measure-status": "in_progress",
            },
        ),
        (people, f"/measures/{w['other_measure']}/", {"description": "x", "status": "stopped"}),
        (people, f"/households/{w['other_household']}/income/", {"year": "2026"}),
        (
            people,
            f"/households/{w['other_household']}/members/{w['other_member']}/reveal/",
            {"field": "id_number", "reason": "核对"},
        ),
        (
            people,
            f"/households/{w['family']}/members/{w['other_member']}/reveal/",
            {"field": "id_number", "reason": "核对"},
        ),
        (people, f"/clues/{w['other_clue']}/verify/", {"outcome": "unverifiable", "note": "无法"}),
        (people, f"/clues/{w['other_clue']}/accept/", {}),
        (
            people,
            f"/clues/{w['other_clue']}/reveal-applicant/",
            {"application": str(w["other_application"]), "reason": "核对"},
        ),
        (people, f"/notifications/{w['other_note']}/read/", {}),
        (
            people,
            f"/cases/new/?household={w['other_household']}",
            {
                "category": "sudden",
                "risk_codes": ["01"],
                "found_on": today,
                "channel": "cadre_screening",
            },
        ),
        (
            ("approver",),
            f"/manage/departments/{w['other_department']}/",
            {"name": "改名", "active": "on"},
        ),
        (("approver",), f"/manage/departments/{w['other_department']}/keys/", {"name": "x"}),
        (
            ("approver",),
            f"/manage/departments/{w['other_department']}/keys/{w['other_key']}/revoke/",
            {},
        ),
        (
            ("approver", "admin"),
            f"/manage/departments/{w['department']}/keys/{w['other_key']}/revoke/",
            {},
        ),
        (
            ("approver",),
            f"/manage/thresholds/{w['other_threshold']}/",
            {"region": COUNTY, "year": "2040", "medical_expense_over": "1"},
        ),
        (("approver",), f"/manage/thresholds/{w['other_threshold']}/delete/", {}),
        (
            ("approver",),
            f"/manage/lines/{w['other_line']}/",
            {"region": COUNTY, "year": "2040", "amount": "1"},
        ),
        (("approver",), f"/manage/lines/{w['other_line']}/delete/", {}),
    ]


@pytest.mark.django_db
def test_a_post_to_another_regions_object_is_a_404_and_writes_nothing(world):
    problems = []
    for roles, url, data in _foreign_posts(world):
        for username in roles:
            answer = ask(_client(world, username), "post", url, data)
            if answer.status != 404 or answer.writes:
                problems.append((username, url[:48], f"{answer.status} {answer.writes}"))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_a_county_approver_creates_nothing_in_another_county(world):
    """The list pages create records in a region chosen on the form: only the approver's
    own county's regions are offered, anything else is refused beside the field."""
    client, problems = _client(world, "approver"), []
    for url, data in (
        ("/manage/departments/", {"name": "湟中区民政局", "kind": "civil_affairs"}),
        ("/manage/thresholds/", {"year": "2040", "medical_expense_over": "1"}),
        ("/manage/lines/", {"year": "2040", "amount": "1"}),
        (
            f"/manage/thresholds/{world['threshold']}/",
            {"year": "2040", "medical_expense_over": "1"},
        ),
        (f"/manage/lines/{world['line']}/", {"year": "2040", "amount": "1"}),
    ):
        for region in (OTHER_COUNTY, OTHER_VILLAGE, "630000000000"):
            answer = ask(client, "post", url, {**data, "region": region})
            refused = answer.status == 400 and "请选择您管辖范围内的区划" in answer.text
            if not refused or answer.writes:
                problems.append(("approver", f"{url} {region}", answer.status))
    assert not problems, report(problems)


# --- 7. htmx asks the reveals for a fragment ------------------------------------------------


@pytest.mark.django_db
def test_htmx_reveals_answer_with_fragments(world):
    w = world
    htmx = {"HX-Request": "true"}
    member = f"/households/{w['family']}/members/{w['head']}/reveal/"
    applicant = f"/clues/{w['clue_pending']}/reveal-applicant/"
    application = str(w["application"])
    tries = [
        (member, {"field": "id_number", "reason": "入户核实"}, 200, ID_HEAD),
        (member, {"field": "phone", "reason": "入户核实"}, 200, PHONE_HEAD),
        (member, {"field": "id_number", "reason": "x"}, 400, "请填写查看事由"),
        (member, {"field": "bogus", "reason": "入户核实"}, 400, None),
        (member, {}, 400, "请填写查看事由"),
        (applicant, {"application": application, "reason": "联系申报人"}, 200, PHONE_APPLICANT),
        (applicant, {"application": application, "reason": ""}, 400, "请填写查看事由"),
        (applicant, {"application": application, "reason": LONG}, 400, None),
    ]
    problems = []
    for username in PEOPLE:
        client = _client(w, username)
        for url, data, status, expected_text in tries:
            answer = ask(client, "post", url, data, headers=htmx)
            wrong = []
            if answer.status != status:
                wrong.append(f"status {answer.status}")
            if "<html" in answer.text or "<body" in answer.text:
                wrong.append("a whole page")
            if expected_text and expected_text not in answer.text:
                wrong.append(f"without {expected_text!r}")
            if status == 400 and not error_texts(answer.text):
                wrong.append("no message")
            if status == 400 and answer.writes:
                wrong.append(f"wrote {answer.writes}")
            if wrong:
                problems.append((username, f"{url[:30]} {sorted(data)}", ", ".join(wrong)))
    assert not problems, report(problems)


@pytest.mark.django_db
def test_htmx_import_errors_come_back_as_a_fragment(world):
    client = _client(world, "cadre_a")
    for data in ({"kind": "detect"}, {"kind": "nope", "file": ContentFile(b"x", name="a.csv")}):
        answer = ask(client, "post", "/households/import/", data, headers={"HX-Request": "true"})
        assert answer.status == 400 and "<html" not in answer.text, data
        assert error_texts(answer.text) and not answer.writes


# --- the bugs these attacks found, one by one ------------------------------------------------


@pytest.mark.django_db
def test_a_plan_row_count_that_is_no_count_is_refused_and_the_plan_is_kept(world):
    """monitor/pages/cases.py case_aid_plan_page read the hidden item_count with int(): "abc"
    was a 500, and "-5" read no rows, so the plan was saved without the posted rows."""
    from interventions.models import AidPlan

    client = _client(world, "cadre_a")
    url = f"/cases/{world['monitored']}/aid/plan/"
    row = {"item0-category": str(world["health"]), "item0-description": "医疗救助"}
    before = list(AidPlan.objects.get(case=world["monitored"]).items.values_list("description"))
    for count in ("abc", "-5", "1e9", "²"):
        response = client.post(url, {"summary": "新计划", "item_count": count, **row})
        assert response.status_code == 400, count
        assert "计划措施的行数无效" in response.content.decode()
    plan = AidPlan.objects.get(case=world["monitored"])
    assert plan.summary == SCRIPT
    assert list(plan.items.values_list("description")) == before
    saved = client.post(url, {"summary": "新计划", "item_count": "1", **row})
    assert saved.status_code == 302
    assert list(plan.items.values_list("description", flat=True)) == ["医疗救助"]


@pytest.mark.django_db
def test_a_refused_step_says_why_on_the_page(world):
    """monitor/pages/cases.py case_transition_page: a step the page does not offer (not the
    user's, not ready, unknown, or none) came back as a 400 page without a word."""
    cadre = _client(world, "cadre_a")
    url = f"/cases/{world['draft']}/transition/"
    for data, said in (
        ({"action": "county_approve"}, "不能执行「县级审定纳入监测」"),
        ({"action": "report"}, "未登记入户核实"),  # each unmet condition, one a line
        ({"action": "nope"}, "未知的操作"),
        ({}, "请选择要办理的操作"),
        ({"action": "report", "comment": LONG}, "意见或理由："),
    ):
        response = cadre.post(url, data)
        assert response.status_code == 400, data
        assert said in " ".join(error_texts(response.content.decode())), data
    clearance = cadre.post(
        f"/cases/{world['monitored']}/transition/",
        {"action": "propose_clearance", "clearance_kind": "assisted"},
    )
    assert clearance.status_code == 400
    assert "风险消除条件" in clearance.content.decode() and error_texts(clearance.content.decode())


@pytest.mark.django_db
def test_a_role_that_may_not_change_a_measure_is_told_why(world):
    """monitor/pages/cases.py measure_edit_page hid the form from the county approver but
    answered its POST with the hidden form's errors: a 400 without a word."""
    from interventions.models import MeasureRecord

    response = _client(world, "approver").post(
        f"/measures/{world['measure']}/", {"description": "改", "status": "stopped"}
    )
    assert response.status_code == 403
    assert "帮扶措施由村干部或乡镇登记" in response.content.decode()
    assert MeasureRecord.objects.get(pk=world["measure"]).status == "in_progress"


@pytest.mark.django_db
def test_a_negative_amount_and_an_impossible_beneficiary_are_refused_in_words(world):
    """monitor/forms.py: a negative amount was refused by the model's check constraint, whose
    message names the constraint; a beneficiary id of 10**30 was a 500 on SQLite."""
    client = _client(world, "cadre_a")
    base = {
        "measure-category": str(world["health"]),
        "measure-description": "医疗救助",
        "measure-department": "县医保局",
        "measure-start_on": TODAY.isoformat(),
        "measure-status": "in_progress",
    }
    url = f"/cases/{world['monitored']}/aid/measures/"
    negative = client.post(url, {**base, "measure-amount": "-5"})
    assert negative.status_code == 400 and "金额不能为负数" in negative.content.decode()
    progress = client.post(
        f"/measures/{world['measure']}/",
        {"description": "x", "amount": "-1", "status": "in_progress"},
    )
    assert progress.status_code == 400 and "金额不能为负数" in progress.content.decode()
    huge = client.post(url, {**base, "measure-amount": "1", "measure-beneficiaries": HUGE})
    assert huge.status_code == 400 and "请选择有效的选项" in huge.content.decode()


@pytest.mark.django_db
def test_participants_beyond_the_column_are_refused_on_every_database(world):
    """monitor/forms.py AppraisalForm: PostgreSQL refused 99999 participants (its smallint
    range), SQLite — the demo's database — stored them."""
    from monitor.models import Appraisal

    response = _client(world, "cadre_a").post(
        f"/cases/{world['draft']}/evidence/identification/appraisal/",
        {
            "appraisal-held_on": TODAY.isoformat(),
            "appraisal-result": "passed",
            "appraisal-participants": "99999",
        },
    )
    assert response.status_code == 400 and "参会人数" in response.content.decode()
    assert not Appraisal.objects.filter(case=world["draft"]).exists()


@pytest.mark.django_db
def test_ids_that_are_digits_only_to_str_isdigit_are_no_ids(world):
    """str.isdigit() is true for "²", and int("²") raises: the review batch, the applicant's
    reveal and the filing page's ?household= were 500s; 10**30 in the batch on SQLite too."""
    w = world
    approver = _client(w, "approver")
    for value in ("²", HUGE):
        batch = approver.post("/review/batch/", {"action": "county_approve", "cases": [value]})
        assert batch.status_code == 302 and batch["Location"] == "/review/"
    reveal = approver.post(
        f"/clues/{w['clue_pending']}/reveal-applicant/", {"application": "²", "reason": "核对"}
    )
    assert reveal.status_code == 404
    assert _client(w, "cadre_a").get("/cases/new/?household=²").status_code == 404


@pytest.mark.django_db
def test_a_nul_in_the_household_search_is_refused_in_words(world):
    """households/views.py: PostgreSQL refuses a NUL in a query parameter (a 500)."""
    response = _client(world, "cadre_a").get("/households/?q=王%00")
    assert response.status_code == 200
    assert "搜索内容含有无效字符" in response.content.decode()


@pytest.mark.django_db
def test_a_refused_reveal_choice_is_said_beside_the_form(world):
    """templates/households/_reveal_form.html showed the reason's errors only: a choice
    that is neither number came back as a 400 without a word."""
    response = _client(world, "cadre_a").post(
        f"/households/{world['family']}/members/{world['head']}/reveal/",
        {"field": "bank_account", "reason": "入户核实"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "请选择要查看的号码" in response.content.decode()
