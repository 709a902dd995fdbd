import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

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
    _login(client, "cadre_a")
    _login(Client(), "cadre_b", "wrong-password")
    # (The fixture's accounts were audited as created too: only the sign-ins are read here.)
    sign_ins = AuditEvent.objects.filter(action__in=["login", "login_failed"]).order_by("id")
    actions = list(sign_ins.values_list("action", "actor_name"))
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


# --- 行业部门 accounts: API keys only (issue 11, item 4) -----------------------------------


def test_a_department_account_cannot_sign_in_with_its_password(client, users):
    response = _login(client, "department")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/")["Location"].startswith("/login/")


def test_a_department_account_cannot_sign_in_to_the_admin_site(client, users):
    department = users["department"]
    department.is_staff = True  # even if someone made it staff
    department.save()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "department", "password": "pw-department", "next": "/admin/"},
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_a_department_still_authenticates_with_its_key(users):
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    _, raw = ApiToken.issue(user=users["department"], name="接口")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert client.get("/api/me/").status_code == 200


# --- lockout under parallel tries ----------------------------------------------------------


def test_twenty_parallel_wrong_tries_reach_the_password_five_times(users, monkeypatch):
    """Every path that checks a password goes through the backend; twenty tries released
    at once each take a number first, so only five reach the password check."""
    import threading
    import time

    from django.contrib.auth.backends import ModelBackend
    from django.core.exceptions import PermissionDenied

    from accounts.authentication import PasswordBackend

    checked = []

    def slow_wrong(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        time.sleep(0.05)  # a real hash takes this long: every other try arrives meanwhile
        return None

    monkeypatch.setattr(ModelBackend, "authenticate", slow_wrong)
    start = threading.Barrier(20)
    outcomes = []

    def attempt():
        start.wait()
        try:
            PasswordBackend().authenticate(None, username="cadre_a", password="guess")
            outcomes.append("checked")
        except PermissionDenied:
            outcomes.append("locked")

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == settings.LOGIN_MAX_FAILURES
    assert sorted(outcomes) == ["checked"] * 5 + ["locked"] * 15
    from accounts import lockout

    assert lockout.is_locked("cadre_a")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_sign_ins_over_http_lock_after_five(live_server, users, monkeypatch):
    """The same through the real server, each try in its own session with its own CSRF
    token, each request on its own database connection (PostgreSQL)."""
    import http.cookiejar
    import re
    import threading
    import time
    import urllib.parse
    import urllib.request

    from accounts.models import User

    checked = []
    original = User.check_password

    def slow_check(self, raw_password):
        checked.append(self.username)
        time.sleep(0.05)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", slow_check)
    url = f"{live_server.url}/login/"
    start = threading.Barrier(20)
    pages = []

    def attempt():
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        form = opener.open(url, timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode(
            {"username": "cadre_a", "password": "guess", "csrfmiddlewaretoken": token}
        ).encode()
        start.wait()
        pages.append(opener.open(url, data=body, timeout=30).read().decode())

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pages) == 20
    assert len(checked) == settings.LOGIN_MAX_FAILURES
    assert sum("用户名或密码错误" in page for page in pages) == 5
    assert sum("已临时锁定" in page for page in pages) == 15
    # Every try is in the audit log, those refused for the lock included.
    assert AuditEvent.objects.filter(action="login_failed").count() == 20
    # The right password is refused while the lock lasts.
    assert "已临时锁定" in _login(Client(), "cadre_a").content.decode()


def test_a_success_clears_the_count(client, users):
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        _login(client, "cadre_a", "wrong-password")
    assert _login(client, "cadre_a").status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert "用户名或密码错误" in _login(client, "cadre_a", "wrong").content.decode()
    assert _login(client, "cadre_a").status_code == 302


def test_the_admin_sites_login_counts_toward_the_same_lock(client, users):
    admin = users["admin"]
    admin.is_staff = True
    admin.save()
    for _ in range(settings.LOGIN_MAX_FAILURES):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "admin", "password": "pw-admin"})
    assert response.status_code == 200  # refused: locked
    assert "_auth_user_id" not in client.session
    assert "已临时锁定" in _login(Client(), "admin").content.decode()


# --- sessions end after 30 minutes idle ----------------------------------------------------


def test_a_session_ends_after_thirty_idle_minutes(client, users, time_machine):
    # The end moves with requests at most a minute apart (config/sessions.py).
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_TOUCH_SECONDS == 60
    time_machine.move_to("2026-11-02 09:00 +0800", tick=False)
    assert _login(client, "cadre_a").status_code == 302
    # Each request pushes the end forward: 29 minutes, then 29 more, still signed in.
    time_machine.move_to("2026-11-02 09:29 +0800", tick=False)
    assert client.get("/").status_code == 200
    time_machine.move_to("2026-11-02 09:58 +0800", tick=False)
    assert client.get("/").status_code == 200
    # 31 minutes without a request: signed out.
    time_machine.move_to("2026-11-02 10:29 +0800", tick=False)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- CSRF on every form of a session ---------------------------------------------------------


def _post_routes():
    """Every page route (not the API, whose session requests DRF checks itself), its path
    parameters filled with 1 (or a UUID): the CSRF check runs before the view looks
    anything up."""
    import re

    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                found.append(route)

    walk(get_resolver().url_patterns, "")
    paths = []
    for route in found:
        if route.startswith(("api/", "^api/")) or "(?P<format>" in route:
            continue
        path = re.sub(r"<uuid:\w+>", "00000000-0000-4000-8000-000000000001", route)
        path = re.sub(r"<(?:\w+:)?(\w+)>", "1", path)
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path).lstrip("^").rstrip("$").replace("\\", "")
        if "(" in path or "[" in path:  # a regex the filling above cannot make a path of
            continue
        paths.append("/" + path)
    return sorted(set(paths))


def test_every_page_form_refuses_a_post_without_its_csrf_token(users):
    paths = _post_routes()
    assert "/login/" in paths and "/password/" in paths and "/second-factor/" in paths
    assert "/admin/accounts/user/1/change/" in paths
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(users["cadre_a"])
    anonymous = Client(enforce_csrf_checks=True)
    passed = []
    for path in paths:
        for client in (signed_in, anonymous):
            response = client.post(path, {"username": "cadre_a", "password": "pw-cadre_a"})
            if response.status_code != 403:
                passed.append((path, response.status_code))
            elif path == "/login/":
                assert "安全令牌" in response.content.decode()  # said in Chinese
    assert not passed, passed
