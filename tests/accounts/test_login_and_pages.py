import pytest
from django.conf import settings
from django.core.cache import cache

from accounts.models import AuditEvent
from tests.conftest import VILLAGE_A, VILLAGE_B, VILLAGE_C
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(regions):
    homes = {}
    for index, village in enumerate((VILLAGE_A, VILLAGE_B, VILLAGE_C)):
        household = HouseholdFactory(village_id=village)
        MemberFactory(
            household=household,
            name=f"户主{index}",
            id_number=make_id_number(sequence=500 + index * 2),
        )
        homes[village] = household
    return homes


def _login(client, username, password=None):
    return client.post("/login/", {"username": username, "password": password or f"pw-{username}"})


def test_the_login_page_is_in_chinese(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "登录" in text and "用户名" in text and "密码" in text
    assert 'lang="zh-hans"' in text


def test_pages_need_a_login(client, db):
    response = client.get("/households/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_village_cadre_sees_only_the_villages_households(client, users, registry):
    assert _login(client, "cadre_a").status_code == 302
    text = client.get("/households/").content.decode()
    assert registry[VILLAGE_A].number in text
    assert registry[VILLAGE_B].number not in text
    assert registry[VILLAGE_C].number not in text
    assert "共 1 户" in text


def test_a_township_reviewer_sees_the_townships_households(client, users, registry):
    _login(client, "reviewer_1")
    text = client.get("/households/").content.decode()
    assert registry[VILLAGE_A].number in text and registry[VILLAGE_B].number in text
    assert registry[VILLAGE_C].number not in text


def test_search_by_name_and_id_number_on_the_page(client, users, registry):
    _login(client, "approver")
    by_name = client.get("/households/", {"q": "户主1"}).content.decode()
    assert registry[VILLAGE_B].number in by_name and registry[VILLAGE_A].number not in by_name
    by_id = client.get("/households/", {"q": make_id_number(sequence=504)}).content.decode()
    assert registry[VILLAGE_C].number in by_id and "共 1 户" in by_id
    bad = make_id_number(sequence=504)
    bad = bad[:17] + ("0" if bad[17] != "0" else "1")
    wrong = client.get("/households/", {"q": bad})
    assert wrong.status_code == 200
    assert "校验位" in wrong.content.decode()


def test_the_page_never_shows_full_id_numbers(client, users, registry):
    _login(client, "cadre_a")
    text = client.get("/households/").content.decode()
    assert make_id_number(sequence=500) not in text


def test_roles_without_people_duties_are_told_so(client, users, registry):
    _login(client, "auditor")
    text = client.get("/households/").content.decode()
    assert "不查看农户信息" in text
    assert registry[VILLAGE_A].number not in text


def test_sign_ins_and_failures_are_audited(client, users):
    from django.test import Client

    _login(client, "cadre_a")
    _login(Client(), "cadre_b", "wrong-password")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor_name"))
    assert actions == [("login", "cadre_a"), ("login_failed", "")]


def test_an_account_is_locked_after_repeated_failures(client, users):
    for _ in range(settings.LOGIN_MAX_FAILURES):
        response = _login(client, "cadre_a", "wrong-password")
        assert "用户名或密码错误" in response.content.decode()
    locked = _login(client, "cadre_a")  # even the right password is refused while locked
    assert locked.status_code == 200
    assert "已临时锁定" in locked.content.decode()
    cache.clear()
    assert _login(client, "cadre_a").status_code == 302


def test_the_lockout_message_says_how_long_is_left(client, users, time_machine):
    time_machine.move_to("2026-11-02 09:00 +0800", tick=False)
    for _ in range(settings.LOGIN_MAX_FAILURES):
        _login(client, "cadre_a", "wrong-password")
    first = settings.LOGIN_LOCKOUT_SECONDS // 60
    assert f"请 {first} 分钟后再试" in _login(client, "cadre_a").content.decode()
    time_machine.move_to("2026-11-02 09:10 +0800", tick=False)
    assert f"请 {first - 10} 分钟后再试" in _login(client, "cadre_a").content.decode()


@pytest.mark.redis
def test_the_failure_count_is_kept_in_redis(client, users):
    import redis

    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    _login(client, "cadre_a", "wrong-password")
    raw = redis.Redis.from_url(settings.REDIS_URL)
    keys = [key.decode() for key in raw.keys("*login-failures:cadre_a")]
    assert len(keys) == 1
    assert raw.ttl(keys[0]) > 0


def test_an_overlong_user_name_is_refused_without_becoming_a_cache_key(client, db):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CacheKeyWarning would fail the test
        response = _login(client, "x" * 10_000, "wrong-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
