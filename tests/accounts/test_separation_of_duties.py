"""三权分立 and 双人复核 (issue 11, item 1 and the 等保 control): the administrator manages
accounts but never gains a people role, reads the audit log or approves cases; the auditor
reads the audit log and nothing else; what an administrator grants waits for a second
person; and every change of rights is an audit event, wherever it is made."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts import services
from accounts.audit import AuditActorMiddleware, acting
from accounts.choices import AuditAction, Role
from accounts.models import ApiToken, AuditEvent, User
from accounts.policy import PolicyDenied
from config.urls import router
from monitor import administration
from monitor.models import Case
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, VILLAGE_A

pytestmark = pytest.mark.django_db


def _staff(users, name="admin"):
    """The scenario's administrator as the demo makes it: staff and superuser."""
    account = users[name]
    User.objects.filter(pk=account.pk).update(is_staff=True, is_superuser=True)
    account.refresh_from_db()
    return account


def _second_admin():
    return User.objects.create_user(
        username="admin2",
        password="pw-admin2",
        role=Role.ADMIN,
        is_staff=True,
        is_superuser=True,
    )


def _admin_client(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def _change_form(account, **changes) -> dict:
    data = {
        "username": account.username,
        "first_name": account.first_name,
        "last_name": "",
        "email": "",
        "role": account.role,
        "region": account.region_id or "",
        "phone_masked": "",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(account, flag):
            data[flag] = "on"
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def _events(action, account):
    return AuditEvent.objects.filter(action=action, object_id=str(account.pk))


# --- item 1: the attack from outside ----------------------------------------------------


def test_the_administrator_cannot_make_himself_a_county_approver_in_the_admin_site(
    users, draft_case
):
    admin = _staff(users)
    client = _admin_client(admin)
    url = f"/admin/accounts/user/{admin.pk}/change/"
    response = client.post(
        url, _change_form(admin, role=Role.COUNTY_APPROVER, region=COUNTY, is_superuser=False)
    )
    assert response.status_code == 302  # the form saves the fields he may change
    admin.refresh_from_db()
    assert (admin.role, admin.region_id, admin.is_superuser) == (Role.ADMIN, None, True)
    assert not _events(AuditAction.ROLE_CHANGE, admin).exists()
    # ... so he still sees no household and no ID number.
    api = Client()
    api.force_login(admin)
    assert api.get("/api/households/").status_code == 403
    member = draft_case.household.members.first()
    assert api.get(f"/api/members/{member.pk}/").status_code == 403
    revealed = api.post(
        f"/api/members/{member.pk}/reveal/",
        {"field": "id_number", "reason": "核对身份"},
        content_type="application/json",
    )
    assert revealed.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL_PII).exists()


def test_no_one_changes_their_own_rights_through_the_service_either(users):
    admin = _staff(users)
    for field, value in (
        ("role", Role.COUNTY_APPROVER),
        ("region_id", COUNTY),
        ("is_active", False),
        ("is_superuser", False),
    ):
        account = User.objects.get(pk=admin.pk)
        setattr(account, field, value)
        with pytest.raises(ValidationError) as refused:
            services.account_save(by=admin, account=account)
        assert "不能修改本人账号" in str(refused.value)
    admin.refresh_from_db()
    assert (admin.role, admin.region_id, admin.is_active) == (Role.ADMIN, None, True)
    with pytest.raises(ValidationError):
        services.account_deactivate(by=admin, account=admin)


def test_only_the_administrator_manages_accounts(users):
    target = User.objects.get(username="cadre_b")
    target.role = Role.COUNTY_APPROVER
    for name in ("approver", "auditor", "cadre_a", "department"):
        with pytest.raises(PolicyDenied) as refused:
            services.account_save(by=users[name], account=target)
        assert refused.value.http_status == 403
    assert User.objects.get(username="cadre_b").role == Role.VILLAGE_CADRE


def test_an_account_the_administrator_makes_waits_for_a_second_administrator(users):
    admin = _staff(users)
    client = _admin_client(admin)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "helper",
            "usable_password": "true",
            "password1": "Qz8#wide-Open",
            "password2": "Qz8#wide-Open",
            "role": Role.COUNTY_APPROVER,
            "region": COUNTY,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    helper = User.objects.get(username="helper")
    assert helper.role == Role.COUNTY_APPROVER and not helper.is_active
    assert helper.grant_requested_by == admin
    # Its password opens nothing while it waits.
    assert not Client().login(username="helper", password="Qz8#wide-Open")
    # He cannot confirm it himself: not in the form, not with the action.
    change = f"/admin/accounts/user/{helper.pk}/change/"
    refused = client.post(change, _change_form(helper, is_active="on"))
    assert refused.status_code == 200 and services.OWN_REQUEST in refused.content.decode()
    client.post(
        "/admin/accounts/user/",
        {"action": "confirm_grants", "_selected_action": [helper.pk]},
    )
    helper.refresh_from_db()
    assert not helper.is_active
    # A second administrator does.
    second = _admin_client(_second_admin())
    assert second.post(change, _change_form(helper, is_active="on")).status_code == 302
    helper.refresh_from_db()
    assert helper.is_active and helper.grant_requested_by is None
    assert Client().login(username="helper", password="Qz8#wide-Open")
    actions = list(
        AuditEvent.objects.filter(object_id=str(helper.pk), object_type="accounts.user")
        .order_by("seq")
        .values_list("action", "actor_name")
    )
    assert actions == [
        (AuditAction.ACCOUNT_CREATE, "admin"),
        (AuditAction.GRANT_REQUESTED, "admin"),
        (AuditAction.ACCOUNT_ACTIVATE, "admin2"),
        (AuditAction.GRANT_CONFIRMED, "admin2"),
    ]
    created = _events(AuditAction.ACCOUNT_CREATE, helper).get()
    assert created.detail["role"] == Role.COUNTY_APPROVER and created.detail["region"] == COUNTY
    assert created.detail["is_active"] is False


def test_a_role_or_region_change_by_an_administrator_waits_and_is_audited(users):
    admin = _staff(users)
    client = _admin_client(admin)
    cadre = users["cadre_b"]
    url = f"/admin/accounts/user/{cadre.pk}/change/"
    form = _change_form(cadre, role=Role.TOWNSHIP_REVIEWER, region="630121100000")
    assert client.post(url, form).status_code == 302
    cadre.refresh_from_db()
    assert (cadre.role, cadre.region_id) == (Role.TOWNSHIP_REVIEWER, "630121100000")
    assert not cadre.is_active and cadre.grant_requested_by == admin
    role = _events(AuditAction.ROLE_CHANGE, cadre).get()
    assert role.actor == admin and role.ip == "127.0.0.1"
    assert role.detail == {"from": Role.VILLAGE_CADRE, "to": Role.TOWNSHIP_REVIEWER}
    region = _events(AuditAction.REGION_CHANGE, cadre).get()
    assert region.detail == {"from": "630121100202", "to": "630121100000"}
    assert _events(AuditAction.ACCOUNT_DEACTIVATE, cadre).get().actor == admin
    requested = _events(AuditAction.GRANT_REQUESTED, cadre).get()
    assert requested.detail["grants"] == ["role", "region_id"]


def test_a_password_the_administrator_sets_for_someone_else_waits(users):
    admin = _staff(users)
    client = _admin_client(admin)
    approver = users["approver"]
    url = f"/admin/accounts/user/{approver.pk}/password/"
    data = {
        "set_usable_password": "true",
        "password1": "Nw7!strong-pw",
        "password2": "Nw7!strong-pw",
    }
    assert client.post(url, data).status_code == 302
    approver.refresh_from_db()
    # He knows the new password, so it does not work until another administrator agrees.
    assert approver.check_password("Nw7!strong-pw") and not approver.is_active
    assert not Client().login(username="approver", password="Nw7!strong-pw")
    event = _events(AuditAction.PASSWORD_SET, approver).get()
    assert event.actor == admin and event.detail == {"by_self": False}
    assert "Nw7!strong-pw" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))
    # His own password is his.
    own = f"/admin/accounts/user/{admin.pk}/password/"
    assert client.post(own, data).status_code == 302
    admin.refresh_from_db()
    assert admin.is_active and _events(AuditAction.PASSWORD_SET, admin).get().detail == {
        "by_self": True
    }


def test_taking_rights_away_is_at_once_and_audited(users):
    admin = _staff(users)
    client = _admin_client(admin)
    cadre = users["cadre_a"]
    client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [cadre.pk]})
    cadre.refresh_from_db()
    assert not cadre.is_active and cadre.grant_requested_by is None
    assert _events(AuditAction.ACCOUNT_DEACTIVATE, cadre).get().actor == admin
    # Reactivating is a grant again: it waits for the second administrator.
    again = User.objects.get(pk=cadre.pk)
    again.is_active = True
    assert services.account_save(by=admin, account=again) == "pending"
    cadre.refresh_from_db()
    assert not cadre.is_active and cadre.grant_requested_by == admin
    services.account_confirm(by=_second_admin(), account=cadre)
    cadre.refresh_from_db()
    assert cadre.is_active


def test_account_changes_outside_the_admin_site_are_audited_too(users):
    # A command or the shell: no one is acting, the change is still on the record.
    cadre = users["cadre_c"]
    cadre.role = Role.COUNTY_APPROVER
    cadre.region_id = COUNTY
    cadre.save()
    role = _events(AuditAction.ROLE_CHANGE, cadre).get()
    assert role.actor is None and role.detail["to"] == Role.COUNTY_APPROVER
    assert _events(AuditAction.REGION_CHANGE, cadre).exists()
    # Inside a service that names its actor, the event is his.
    with acting(users["admin"]):
        cadre.is_active = False
        cadre.save()
    assert _events(AuditAction.ACCOUNT_DEACTIVATE, cadre).get().actor == users["admin"]

    # Every request is attributed the same way once AuditActorMiddleware is installed.
    def view(request):
        cadre.role = Role.VILLAGE_CADRE
        cadre.save()

    request = type("Request", (), {"user": users["approver"], "META": {"REMOTE_ADDR": "::1"}})()
    AuditActorMiddleware(view)(request)
    back = _events(AuditAction.ROLE_CHANGE, cadre).order_by("seq").last()
    assert (back.actor, back.ip) == (users["approver"], "::1")
    # A sign-in's last_login is no change of rights.
    before = AuditEvent.objects.count()
    cadre.save(update_fields=["last_login"])
    assert AuditEvent.objects.count() == before


def test_accounts_are_not_deleted_in_the_admin_site(users):
    admin = _staff(users)
    client = _admin_client(admin)
    cadre = users["cadre_a"]
    assert client.get(f"/admin/accounts/user/{cadre.pk}/delete/").status_code == 403
    assert User.objects.filter(pk=cadre.pk).exists()


# --- department accounts and keys ---------------------------------------------------------


def _department(users):
    return administration.department_create(
        by=users["admin"],
        name="县医保局",
        kind=DepartmentKind.MEDICAL_INSURANCE,
        region=users["approver"].region,
    )


def test_a_department_account_and_key_the_administrator_makes_wait_for_the_county(users):
    department = _department(users)
    account = department.account
    assert not account.is_active and account.grant_requested_by == users["admin"]
    token, raw = administration.department_key_issue(
        by=users["admin"], department=department, name="推送"
    )
    machine = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    assert machine.get("/api/feeds/batches/").status_code == 401
    county = Client()
    county.force_login(users["approver"])
    page = county.get(f"/manage/departments/{department.pk}/").content.decode()
    assert "待复核" in page
    # The administrator cannot confirm what he issued.
    with pytest.raises(ValidationError):
        administration.department_account_confirm(by=users["admin"], department=department)
    with pytest.raises(ValidationError):
        administration.department_key_confirm(by=users["admin"], department=department, token=token)
    # Nor can a county approver elsewhere: the department is not in his region.
    with pytest.raises(PolicyDenied) as elsewhere:
        administration.department_key_confirm(
            by=users["approver_other"], department=department, token=token
        )
    assert elsewhere.value.http_status == 404
    assert machine.get("/api/feeds/batches/").status_code == 401
    # The county approver of the county confirms both.
    administration.department_account_confirm(by=users["approver"], department=department)
    assert machine.get("/api/feeds/batches/").status_code == 401  # the key still waits
    administration.department_key_confirm(by=users["approver"], department=department, token=token)
    assert machine.get("/api/feeds/batches/").status_code == 200
    issued = AuditEvent.objects.get(action=AuditAction.TOKEN_ISSUED)
    assert issued.detail["awaiting_confirmation"] is True and raw not in str(issued.detail)
    confirmed = AuditEvent.objects.get(action=AuditAction.TOKEN_CONFIRMED)
    assert confirmed.actor == users["approver"] and confirmed.detail["issued_by"] == "admin"
    assert _events(AuditAction.GRANT_CONFIRMED, account).get().actor == users["approver"]


def test_what_the_county_approver_grants_his_own_county_works_at_once(users):
    department = administration.department_create(
        by=users["approver"],
        name="县民政局",
        kind=DepartmentKind.CIVIL_AFFAIRS,
        region=users["approver"].region,
    )
    assert department.account.is_active
    _, raw = administration.department_key_issue(
        by=users["approver"], department=department, name="推送"
    )
    assert Client(HTTP_AUTHORIZATION=f"Token {raw}").get("/api/feeds/batches/").status_code == 200
    created = _events(AuditAction.ACCOUNT_CREATE, department.account).get()
    assert created.actor == users["approver"] and created.detail["role"] == Role.DEPARTMENT


def test_revoking_a_key_in_the_admin_site_is_audited(users):
    admin = _staff(users)
    token, _ = ApiToken.issue(user=users["department"], name="医保推送")
    _admin_client(admin).post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED)
    assert event.actor == admin and event.object_id == str(token.pk)


# --- 三权分立: what each of the two roles reaches ---------------------------------------

# Reference catalogues (no people in them): the measure categories, the cross-check items,
# monitoring lines, local rules, insurance products. The administrator reads them; the
# auditor reads the audit log and nothing else (policy `reference.read`). Exports list
# people: neither role has any (`report.export`).
CATALOGUES = {
    "monitoring-lines",
    "cross-check-items",
    "region-policies",
    "insurance-policies",
    "measure-categories",
}
# Public endpoints: the farmers' own 一键申报 (POST only).
PUBLIC = {"self-applications", "self-applications/lookup"}


@pytest.mark.parametrize("name", ["admin", "auditor"])
def test_neither_role_reaches_people_through_any_api_list(api, users, draft_case, name):
    member = draft_case.household.members.first()
    client = api(name)
    for prefix, _viewset, _basename in router.registry:
        if prefix in PUBLIC:
            continue
        response = client.get(f"/api/{prefix}/")
        text = response.content.decode()
        if prefix == "audit-events":
            assert response.status_code == (200 if name == "auditor" else 403), prefix
        elif prefix in CATALOGUES:
            assert response.status_code == (200 if name == "admin" else 403), prefix
        else:
            assert response.status_code == 403, (prefix, response.status_code)
        assert draft_case.household.number not in text and member.name not in text, prefix
    for url in (
        f"/api/households/{draft_case.household_id}/",
        f"/api/members/{member.pk}/",
        f"/api/cases/{draft_case.pk}/",
    ):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("name", ["admin", "auditor"])
def test_neither_role_sees_people_on_any_page(client, users, draft_case, name):
    client.force_login(users[name])
    member = draft_case.household.members.first()
    for url in (
        "/",
        "/households/",
        f"/households/{draft_case.household_id}/",
        "/cases/",
        f"/cases/{draft_case.pk}/",
        "/cases/notice-list/",
        "/clues/",
        "/review/",
        "/reports/",
        "/exports/",
    ):
        response = client.get(url)
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        text = response.content.decode()
        assert draft_case.household.number not in text and member.name not in text, url


@pytest.mark.parametrize("name", ["admin", "auditor"])
def test_neither_role_approves_or_moves_a_case(api, users, draft_case, name):
    Case.objects.filter(pk=draft_case.pk).update(status="township_approved")
    for action in ("county_approve", "county_reject", "report", "township_approve"):
        response = api(name).post(
            f"/api/cases/{draft_case.pk}/transitions/",
            {"action": action, "comment": "同意"},
            format="json",
        )
        assert response.status_code in (403, 404), (action, response.status_code)
    assert Case.objects.get(pk=draft_case.pk).status == "township_approved"
    assert not AuditEvent.objects.filter(action=AuditAction.TRANSITION).exists()


def test_the_admin_site_gives_the_audit_log_to_the_auditor_only(users):
    audit = "/admin/accounts/auditevent/"
    admin = _staff(users)
    assert _admin_client(admin).get(audit).status_code == 403
    auditor = users["auditor"]
    User.objects.filter(pk=auditor.pk).update(is_staff=True)
    auditor.refresh_from_db()
    client = _admin_client(auditor)
    assert client.get(audit).status_code == 200
    event = AuditEvent.objects.order_by("seq").first()
    # Read-only: no change, no delete, no delete action.
    assert client.post(f"{audit}{event.pk}/change/", {"reason": "改"}).status_code == 403
    assert client.post(f"{audit}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(audit, {"action": "delete_selected", "_selected_action": [event.pk]})
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    # The auditor manages no users and reads no people in the admin site.
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get("/admin/accounts/apitoken/").status_code == 403
    assert client.get("/admin/households/household/").status_code == 403


def test_the_auditor_reads_the_audit_log_through_the_api(api, users, draft_case):
    rows = api("auditor").get("/api/audit-events/?action=account.create").json()
    assert rows["count"] == len(users)
    assert api("admin").get("/api/audit-events/").status_code == 403
    assert (
        api("admin").get(f"/api/audit-events/{AuditEvent.objects.first().pk}/").status_code == 403
    )
    # Nothing on the API writes to the log.
    event = AuditEvent.objects.first()
    for method in ("put", "patch", "delete"):
        response = getattr(api("auditor"), method)(f"/api/audit-events/{event.pk}/", {})
        assert response.status_code == 405
    assert api("auditor").post("/api/audit-events/", {}).status_code == 405


def test_the_workflow_steps_are_audit_events(api, users, draft_case):
    from monitor.workflow import case_transition

    Case.objects.filter(pk=draft_case.pk).update(status="reported")
    case_transition(
        case_id=draft_case.pk,
        action="township_return",
        by=users["reviewer_1"],
        comment="请补充 630121198005170016 的材料",
    )
    event = AuditEvent.objects.get(action=AuditAction.TRANSITION)
    assert event.actor == users["reviewer_1"] and event.object_type == "monitor.casetransition"
    assert event.detail["case"] == draft_case.pk and event.detail["step"] == "township_return"
    assert (event.detail["from"], event.detail["to"]) == ("reported", "draft")
    assert "630121198005170016" not in event.reason and "请补充" in event.reason
    assert VILLAGE_A not in event.object_label
