"""The 待复核授权 page in a real Chromium: the county approver signs in (password, then his
authenticator app), follows the navigation to the grants an administrator made for his
county's department, and confirms the machine account and its key with the page's buttons —
after which the key pushes lists."""

import re
from base64 import b32decode

import pytest
from django.test import Client
from django_otp.oath import totp
from playwright.sync_api import expect

from accounts.models import ApiToken, User
from monitor import administration
from monitor.models.feeds import DepartmentKind

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _code(secret: str) -> str:
    raw = secret.replace(" ", "")
    return f"{totp(b32decode(raw + '=' * (-len(raw) % 8))):06d}"


def test_the_county_approver_confirms_a_department_on_the_page(
    page, live_server, users, login, shot, settings
):
    settings.SECOND_FACTOR_REQUIRED = True
    department = administration.department_create(
        by=users["admin"],
        name="大通县医疗保障局",
        kind=DepartmentKind.MEDICAL_INSURANCE,
        region=users["approver"].region,
    )
    token, raw = administration.department_key_issue(
        by=users["admin"], department=department, name="每月推送"
    )
    machine = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    assert machine.get("/api/feeds/batches/").status_code == 401

    login(page, live_server, "approver", "pw-approver")
    expect(page).to_have_url(re.compile(r"/second-factor/enrol/"))
    page.get_by_label("动态口令").fill(_code(page.locator("#totp-secret").inner_text()))
    page.get_by_role("button", name="确认启用").click()
    expect(page).to_have_url(f"{live_server.url}/")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="待复核授权").click()
    expect(page).to_have_url(f"{live_server.url}/grants/")
    expect(page.get_by_role("heading", name="待复核授权")).to_be_visible()
    accounts = page.locator("#department-accounts")
    keys = page.locator("#department-keys")
    expect(accounts).to_contain_text("大通县医疗保障局")
    expect(accounts).to_contain_text(department.account.username)
    expect(keys).to_contain_text(token.prefix)
    expect(keys).to_contain_text("每月推送")
    shot(page, "waiting")

    accounts.get_by_role("button", name="复核启用").click()
    expect(page.get_by_role("status")).to_contain_text("接口账号")
    page.locator("#department-keys").get_by_role("button", name="复核启用").click()
    expect(page.get_by_role("status")).to_contain_text("接口密钥")
    expect(page.get_by_text("没有等待您复核的授权。")).to_be_visible()
    expect(page.get_by_role("button", name="复核启用")).to_have_count(0)
    shot(page, "confirmed")

    assert User.objects.get(pk=department.account_id).is_active
    assert ApiToken.objects.get(pk=token.pk).confirmed_at is not None
    assert machine.get("/api/feeds/batches/").status_code == 200
