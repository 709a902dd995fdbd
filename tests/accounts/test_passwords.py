"""Passwords to 等保 level 3: three of four character classes, not the old one, changed every
PASSWORD_MAX_AGE_DAYS days — after that the person reaches nothing but the change page."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import User
from accounts.passwords import character_classes, password_expired

pytestmark = pytest.mark.django_db

NEW = "Xin-mima-2026"  # upper, lower, digit, other


@pytest.mark.parametrize(
    ("password", "classes"),
    [
        ("alllowercase", {"小写字母"}),
        ("lowercase2026", {"小写字母", "数字"}),
        ("UPPERCASE-2026", {"大写字母", "数字", "其他符号"}),
        ("防返贫Ab1", {"其他符号", "大写字母", "小写字母", "数字"}),
        ("\x01\x02ab", {"小写字母"}),  # a control character is no class
    ],
)
def test_classes_are_counted_as_people_read_them(password, classes):
    assert character_classes(password) == classes


@pytest.mark.parametrize(
    "password",
    ["abcdefghijkl", "abcdefgh2026", "ABCDEFGH2026", "abcd-efgh-ijk", "\x01\x02abcdefgh2026"],
)
def test_a_password_of_fewer_than_three_classes_is_refused_in_chinese(password):
    with pytest.raises(ValidationError) as refused:
        validate_password(password)
    assert "至少三类" in " ".join(refused.value.messages)


@pytest.mark.parametrize(
    "password", ["Abcdefgh2026", "abcdefgh-2026", "ABCD-EFGH-2026", "防返贫abcd2026"]
)
def test_a_password_of_three_classes_and_ten_characters_is_taken(password):
    validate_password(password)


def test_the_old_password_is_not_a_new_one(users):
    user = users["cadre_a"]
    user.set_password(NEW)
    user.save()
    with pytest.raises(ValidationError) as refused:
        validate_password(NEW, user)
    assert "不能与原密码相同" in " ".join(refused.value.messages)
    validate_password("Another-pass-2026", user)


def test_saving_a_password_starts_its_clock(users):
    user = users["cadre_a"]
    User.objects.filter(pk=user.pk).update(password_changed_at=timezone.now() - timedelta(days=200))
    user.refresh_from_db()
    assert password_expired(user)
    before = timezone.now()
    user.set_password(NEW)
    user.save()
    user.refresh_from_db()
    assert user.password_changed_at >= before and not password_expired(user)


def _age(user, days):
    User.objects.filter(pk=user.pk).update(
        password_changed_at=timezone.now() - timedelta(days=days)
    )


def test_an_expired_password_leads_to_the_change_page_and_nowhere_else(client, users, settings):
    user = users["cadre_a"]
    _age(user, settings.PASSWORD_MAX_AGE_DAYS + 1)
    client.force_login(user)
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == "/password/?next=%2F"
    for path in ("/households/", "/cases/", "/clues/"):
        refused = client.get(path)
        assert refused.status_code == 302 and refused["Location"].startswith("/password/")
    # A write is refused too (the redirect, nothing done).
    assert client.post("/notifications/1/read/").status_code == 302
    api = client.get("/api/households/")
    assert api.status_code == 403 and "修改密码" in api.json()["detail"]
    page = client.get("/password/")
    assert page.status_code == 200
    assert f"已使用超过 {settings.PASSWORD_MAX_AGE_DAYS} 天" in page.content.decode()
    changed = client.post(
        "/password/",
        {"old_password": "pw-cadre_a", "new_password1": NEW, "new_password2": NEW},
    )
    assert changed.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/api/households/").status_code == 200


def test_the_password_holds_for_its_days_and_not_one_more(client, users, settings):
    settings.PASSWORD_MAX_AGE_DAYS = 90
    user = users["cadre_a"]
    client.force_login(user)
    start = user.password_changed_at
    with time_machine.travel(start + timedelta(days=90) - timedelta(minutes=1), tick=False):
        client.force_login(user)  # a fresh session at that time (sessions end when idle)
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(days=90), tick=False):
        client.force_login(user)
        assert client.get("/")["Location"].startswith("/password/")


def test_the_age_is_a_setting_and_zero_means_never(client, users, settings):
    user = users["cadre_a"]
    _age(user, 40)
    client.force_login(user)
    settings.PASSWORD_MAX_AGE_DAYS = 30
    assert client.get("/").status_code == 302
    settings.PASSWORD_MAX_AGE_DAYS = 0
    assert client.get("/").status_code == 200


def test_the_change_page_refuses_a_weak_or_reused_password_in_chinese(client, users):
    user = users["cadre_a"]
    user.set_password(NEW)
    user.save()
    client.force_login(user)
    weak = client.post(
        "/password/",
        {"old_password": NEW, "new_password1": "lowercase2026", "new_password2": "lowercase2026"},
    )
    assert weak.status_code == 200
    assert "至少三类" in weak.content.decode()
    same = client.post(
        "/password/", {"old_password": NEW, "new_password1": NEW, "new_password2": NEW}
    )
    assert same.status_code == 200
    assert "不能与原密码相同" in same.content.decode()
    assert User.objects.get(pk=user.pk).check_password(NEW)
