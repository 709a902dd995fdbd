"""Security headers and the Content-Security-Policy (config/security.py), and pages that
satisfy it: no inline script, style or event handler that the policy would block."""

from html.parser import HTMLParser

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _directives(policy: str) -> dict:
    parts = (part.strip().split() for part in policy.split(";") if part.strip())
    return {part[0]: part[1:] for part in parts}


def test_every_page_carries_the_security_headers(client, users):
    client.force_login(users["cadre_a"])
    for path in ("/login/", "/"):
        response = Client().get(path) if path == "/login/" else client.get(path)
        assert response.status_code == 200
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"]
        assert "geolocation=()" in response["Permissions-Policy"]
        policy = _directives(response["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        for directive in ("script-src", "style-src"):
            sources = policy[directive]
            assert sources[0] == "'self'"
            assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
            assert len(sources) == 2 and sources[1].startswith("'nonce-")


def test_the_nonce_is_new_on_every_response(client, db):
    first = _directives(client.get("/login/")["Content-Security-Policy"])["script-src"][1]
    second = _directives(client.get("/login/")["Content-Security-Policy"])["script-src"][1]
    assert first != second and len(first) > 20


def test_the_policy_covers_documents_not_downloads(client, users):
    client.force_login(users["cadre_a"])
    api = client.get("/api/me/")
    assert api["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" not in api
    assert api["X-Content-Type-Options"] == "nosniff"


def test_hsts_is_sent_over_https_only(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    secure = client.get("/login/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in client.get("/login/")


def test_cookies_under_production_settings_are_secure_httponly_and_samesite(users, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    client = Client()
    client.get("/login/", secure=True)
    response = client.post(
        "/login/", {"username": "cadre_a", "password": "pw-cadre_a"}, secure=True
    )
    assert response.status_code == 302
    for name in ("sessionid", "csrftoken"):
        cookie = response.cookies[name] if name in response.cookies else client.cookies[name]
        assert cookie["secure"] is True, name
        assert cookie["httponly"] is True, name
        assert cookie["samesite"] == "Lax", name
    assert response.cookies["sessionid"]["max-age"] == 30 * 60


def test_the_api_docs_run_their_inline_start_up_under_the_nonce(client, users):
    client.force_login(users["cadre_a"])
    response = client.get("/api/docs/")
    assert response.status_code == 200
    nonce = _directives(response["Content-Security-Policy"])["script-src"][1][len("'nonce-") : -1]
    found = _inline_markup(response.content.decode())
    assert found.unmarked == [], found.unmarked
    assert found.nonces == {nonce}  # both inline blocks carry this response's nonce


class _InlineFinder(HTMLParser):
    """Inline scripts, style blocks, style attributes and event-handler attributes: what a
    policy without 'unsafe-inline' blocks unless the element carries the nonce."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.unmarked, self.nonces = [], set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "style") and not (tag == "script" and attributes.get("src")):
            if attributes.get("type") in ("application/json", "application/ld+json"):
                return  # data, never run
            if attributes.get("nonce"):
                self.nonces.add(attributes["nonce"])
            else:
                self.unmarked.append(f"<{tag}> inline")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.unmarked.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").startswith("javascript:"):
                self.unmarked.append(f"<{tag} {name}={value!r}>")


def _inline_markup(html: str) -> _InlineFinder:
    finder = _InlineFinder()
    finder.feed(html)
    return finder


def test_the_pages_have_no_inline_script_or_style_the_policy_would_block(draft_case, users):
    """Each role's main pages, the case and household pages of a real case, the admin
    site, the public pages and the error pages (the browser test watches the main ones in
    Chromium)."""
    case, household = draft_case, draft_case.household
    pages = {
        None: ["/login/", "/apply/", "/apply/lookup/", "/no-such-page/"],
        "cadre_a": [
            "/",
            "/households/",
            f"/households/{household.pk}/",
            f"/households/{household.pk}/income/",
            "/cases/",
            f"/cases/{case.pk}/",
            f"/cases/{case.pk}/aid/",
            f"/cases/{case.pk}/edit/",
            f"/cases/{case.pk}/clearance/",
            "/clues/",
            "/cases/notice-list/",
            "/households/import/",
            "/password/",
            "/reports/",
            "/exports/",
        ],
        "reviewer_1": ["/", "/review/", "/batches/"],
        "approver": ["/", "/review/", "/rounds/", "/manage/", "/manage/departments/"],
        "admin": [
            "/",
            "/manage/",
            "/second-factor/enrol/",
            "/admin/",
            "/admin/accounts/user/",
            "/admin/accounts/user/add/",
            f"/admin/accounts/user/{users['cadre_a'].pk}/change/",
        ],
        "auditor": ["/", "/households/", "/admin/accounts/auditevent/"],
    }
    for username in ("admin", "auditor"):
        users[username].is_staff = True
        users[username].save()
    problems = {}
    for username, paths in pages.items():
        client = Client()
        if username:
            client.force_login(users[username])
        for path in paths:
            response = client.get(path, follow=True)
            expected = 404 if path == "/no-such-page/" else 200
            assert response.status_code == expected, (username, path, response.status_code)
            found = _inline_markup(response.content.decode())
            if found.unmarked:
                problems[(username, path)] = found.unmarked
    assert not problems, problems


def test_the_server_error_page_needs_no_inline_style(settings):
    from django.template.loader import render_to_string

    found = _inline_markup(render_to_string("500.html"))
    assert found.unmarked == []
