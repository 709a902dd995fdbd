import pytest
from django.urls import reverse

from accounts.audit import audit_record
from accounts.models import ApiToken
from households.models import Household, IncomeRecord, Member, MonitoringLine, Region
from interventions.models import AidPlan, MeasureCategory, MeasureRecord
from monitor.models import (
    Appraisal,
    Case,
    CaseTransition,
    Consent,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)
from tests.conftest import VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory

pytestmark = pytest.mark.django_db

MODELS = [
    Region,
    Household,
    Member,
    IncomeRecord,
    MonitoringLine,
    Case,
    CaseTransition,
    HomeVisit,
    Consent,
    Appraisal,
    PublicNotice,
    MonthlyVisit,
    Deadline,
    Notification,
    MeasureCategory,
    AidPlan,
    MeasureRecord,
]


def test_every_admin_changelist_opens_for_the_administrator(client, users):
    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    household = HouseholdFactory(village_id=VILLAGE_A)
    MemberFactory(household=household)
    for model in MODELS:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
    # The administrator manages users, not people: households are outside any admin scope.
    page = client.get(reverse("admin:households_household_changelist")).content.decode()
    assert household.number not in page
    # 三权分立: the audit log is not the administrator's to read.
    assert client.get(reverse("admin:accounts_auditevent_changelist")).status_code == 403


def test_the_auditor_reads_the_audit_log_and_nobody_else_does(api, users):
    audit_record(actor=users["cadre_a"], action="login")
    rows = api("auditor").get("/api/audit-events/?action=login").json()["results"]
    assert [(row["actor_name"], row["action_display"]) for row in rows] == [("cadre_a", "登录")]
    for name in ("admin", "approver", "cadre_a", "department"):
        assert api(name).get("/api/audit-events/").status_code == 403


def test_machine_clients_authenticate_with_a_token_shown_once(client, users):
    token, raw = ApiToken.issue(user=users["department"], name="医保推送")
    assert raw not in token.key_hash
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {raw}")
    assert me.status_code == 200 and me.json()["role"] == "department"
    # A department's key never reads households.
    assert client.get("/api/households/", HTTP_AUTHORIZATION=f"Token {raw}").status_code == 403
    token.revoke()
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {raw}").status_code == 401
    assert client.get("/api/me/", HTTP_AUTHORIZATION="Token nonsense").status_code == 401
