"""The Content-Security-Policy in a real Chromium: every main page of each role loads, and
its htmx parts and small scripts work, without one violation reported — neither in the
console nor as a `securitypolicyviolation` event. The county approver signs in through the
second factor, enrolling an authenticator app as a person would (the code computed from the
secret the page shows)."""

import re
from base64 import b32decode

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from monitor.models import Case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(
    event.violatedDirective + " " + (event.blockedURI || "inline") + " " + (event.sample || "")
  );
});
"""


class Watcher:
    """Collects what Chromium reports about the policy on one tab."""

    def __init__(self, page):
        self.page = page
        self.console = []
        page.add_init_script(WATCH)
        page.on("console", self._console)
        self.found = {}

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.console.append(text)

    def visit(self, url: str, path: str):
        self.page.goto(url + path)
        self.page.wait_for_load_state("networkidle")
        self.check(path)

    def check(self, label: str):
        events = self.page.evaluate("window.__cspViolations || []")
        if events or self.console:
            self.found[label] = [*events, *self.console]
        self.console = []


def _code(secret: str) -> str:
    raw = secret.replace(" ", "")
    return f"{totp(b32decode(raw + '=' * (-len(raw) % 8))):06d}"


def test_the_pages_raise_no_policy_violation(
    browser, live_server, users, login, shot, draft_case, settings
):
    settings.SECOND_FACTOR_REQUIRED = True
    url = live_server.url
    case, household = draft_case, draft_case.household
    violations = {}

    def tab():
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
        context.set_default_timeout(10_000)
        return context, context.new_page()

    # First, that the watcher sees a violation at all: a script and a style attribute put
    # into the sign-in page from outside are blocked and reported.
    context, page = tab()
    watcher = Watcher(page)
    watcher.visit(url, "/login/")
    assert not watcher.found, watcher.found
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true;";
          document.body.appendChild(script);
          document.body.setAttribute("style", "color: red");
        }"""
    )
    page.wait_for_timeout(200)  # the reports are delivered after the task
    watcher.check("injected")
    assert page.evaluate("window.injected === undefined")
    assert len(watcher.found["injected"]) >= 2, watcher.found
    context.close()

    # The village cadre: home, the register, the case and its pages, reports and exports.
    context, page = tab()
    watcher = Watcher(page)
    login(page, live_server, "cadre_a", "pw-cadre_a")
    for path in (
        "/",
        "/households/",
        f"/households/{household.pk}/income/",
        "/cases/",
        f"/cases/{case.pk}/",
        f"/cases/{case.pk}/aid/",
        f"/cases/{case.pk}/edit/",
        f"/cases/{case.pk}/clearance/",
        "/clues/",
        "/follow-ups/",
        "/reports/",
        "/exports/",
        "/households/import/",
        "/password/",
        "/api/docs/",
    ):
        watcher.visit(url, path)
    # An htmx part: revealing a member's full number swaps the answer in place.
    watcher.visit(url, f"/households/{household.pk}/")
    page.get_by_text("显示完整号码").first.click()
    reveal = page.locator("form[hx-post]").first
    reveal.locator("input[name=reason]").fill("入户核实需核对证件")
    reveal.get_by_role("button", name="显示").click()
    expect(page.locator(".revealed").first).to_be_visible()
    watcher.check("reveal (htmx)")
    # The print button of the notice list is wired by app.js, not an onclick attribute.
    watcher.visit(url, "/cases/notice-list/")
    expect(page.locator("[data-print]")).to_have_count(1)
    shot(page, "cadre")
    violations.update({f"cadre_a {k}": v for k, v in watcher.found.items()})
    context.close()

    # The township reviewer: the review queue, its select-all box working under the policy.
    Case.objects.filter(pk=case.pk).update(status="reported")
    context, page = tab()
    watcher = Watcher(page)
    login(page, live_server, "reviewer_1", "pw-reviewer_1")
    watcher.visit(url, "/review/")
    page.locator("input[data-select-all]").first.check()
    boxes = page.locator("input[name=cases]")
    assert boxes.count() >= 1
    for index in range(boxes.count()):
        expect(boxes.nth(index)).to_be_checked()
    watcher.check("review select-all")
    for path in ("/", "/batches/", "/reports/"):
        watcher.visit(url, path)
    violations.update({f"reviewer_1 {k}": v for k, v in watcher.found.items()})
    context.close()

    # The county approver: password, then the second factor enrolled on its page.
    context, page = tab()
    watcher = Watcher(page)
    login(page, live_server, "approver", "pw-approver")
    expect(page).to_have_url(re.compile(r"/second-factor/enrol/"))
    watcher.check("/second-factor/enrol/")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("动态口令").fill(_code(secret))
    page.get_by_role("button", name="确认启用").click()
    expect(page).to_have_url(f"{url}/")
    shot(page, "approver-after-second-factor")
    for path in ("/", "/review/", "/rounds/", "/manage/", "/manage/departments/", "/reports/"):
        watcher.visit(url, path)
    violations.update({f"approver {k}": v for k, v in watcher.found.items()})
    context.close()

    # The public: the farmers' own application and its lookup; the sign-in page itself.
    context, page = tab()
    watcher = Watcher(page)
    for path in ("/login/", "/apply/", "/apply/lookup/", "/no-such-page/"):
        watcher.visit(url, path)
    violations.update({f"public {k}": v for k, v in watcher.found.items()})
    context.close()

    assert not violations, violations
