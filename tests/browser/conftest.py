"""Real-browser tests: Debian's Chromium, driven by Playwright, against pytest-django's
`live_server`.

No tool downloads a browser: Playwright launches the Chromium installed by
`apt-get install chromium` (or the one named by CHROMIUM_PATH). Without it the browser tests
skip locally and fail under CI=true.

A browser test module starts with

    pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

(the live server runs in another thread and only sees committed rows) and uses the fixtures
`page` (1280x900) or `phone_page` (360x740, touch), `live_server`, `shot` and `login`:

    def test_the_cadre_sees_the_home_page(page, live_server, users, login, shot):
        login(page, live_server, "cadre_a", "pw-cadre_a")
        shot(page, "home")
        expect(page.get_by_text("cadre_a")).to_be_visible()

Screenshots go to var/test-artifacts/screenshots/ (TEST_ARTIFACTS_DIR replaces
var/test-artifacts), named <test name>-<nn>-<name>.png; a failing test leaves a last one,
<test name>-<nn>-failed.png.
"""

import importlib
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO, require_service

# Playwright's sync API keeps an asyncio event loop running in this thread (in a greenlet)
# from the moment the browser starts until the session ends. Django sees that running loop
# and refuses ORM calls from the test thread with SynchronousOnlyOperation, although the test
# code itself is synchronous and never runs inside the loop. This turns Django's check off;
# it is process-wide, so it also applies to the tests that run after the browser started.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium reaches out to Google's hosts (no internet here).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
TIMEOUT_MS = 10_000  # a page of this application answers in well under a second


def artifacts_dir() -> Path:
    return Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO / "var" / "test-artifacts")


def screenshots_dir() -> Path:
    folder = artifacts_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test item: the page fixture's teardown looks at
    # item.rep_setup / item.rep_call to take a last screenshot of a failed test.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _measure_catalogue(transactional_db):
    """The aid-measure catalogue, as its data migration seeds it. A transactional test ends
    with a flush that empties every table, migration-seeded rows included, so a browser test
    that runs after another transactional test would find no measure categories. Re-running
    the migration's own (idempotent) seed puts them back before each browser test."""
    from django.apps import apps

    migration = importlib.import_module("interventions.migrations.0003_seed_measure_categories")
    migration.seed(apps, None)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    # A CHROMIUM_PATH that is set is the only candidate: a wrong one is reported, not
    # quietly replaced by another browser.
    named = os.environ.get("CHROMIUM_PATH")
    candidates = [named] if named else ["/usr/bin/chromium", shutil.which("chromium")]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    require_service(
        "Chromium",
        found is not None,
        f"no executable {named}"
        if named
        else "apt-get install chromium, or set CHROMIUM_PATH"
        "; Playwright must not download a browser of its own",
    )
    return found


def _has_chinese_font() -> bool:
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return True  # cannot tell; do not nag
    found = subprocess.run(
        [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False
    )
    return bool(found.stdout.strip())


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    if not _has_chinese_font():
        # The tests still pass (boxes take up space too), but screenshots are unreadable and
        # layout checks measure boxes instead of characters.
        warnings.warn(
            "no Chinese font: screenshots show boxes (apt-get install fonts-noto-cjk)",
            stacklevel=1,
        )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class _Screenshots:
    """shot(page, "name"): a full-page PNG, numbered in the order taken within the test."""

    def __init__(self, test_name: str):
        self.prefix = re.sub(r"[^\w.-]+", "_", test_name).strip("_")
        self.count = 0
        folder = screenshots_dir()
        # The files of this test from an earlier run would mix with this run's.
        for old in folder.glob(f"{self.prefix}-*.png"):
            if re.fullmatch(rf"{re.escape(self.prefix)}-\d\d-.*\.png", old.name):
                old.unlink()

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        safe = re.sub(r"[^\w.-]+", "_", name).strip("_") or "shot"
        path = screenshots_dir() / f"{self.prefix}-{self.count:02d}-{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request) -> _Screenshots:
    shots = getattr(request.node, "_browser_screenshots", None)
    if shots is None:
        shots = request.node._browser_screenshots = _Screenshots(request.node.name)
    return shots


def _local_only(route):
    # Nothing may leave the machine: a page that needs an outside host (a CDN font, an
    # analytics script) fails at once instead of hanging until a timeout.
    host = urlsplit(route.request.url).hostname or ""
    if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def _open_page(browser, request, options):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _local_only)
    page = context.new_page()
    yield page
    item = request.node
    failed = any(
        getattr(item, f"rep_{when}", None) is not None and getattr(item, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    try:
        if failed and not page.is_closed():
            shots = getattr(item, "_browser_screenshots", None) or _Screenshots(item.name)
            item._browser_screenshots = shots
            print(f"\nscreenshot of the failure: {shots(page, 'failed')}")
    except Exception as exc:  # the test's own failure is the one to report
        print(f"\nno screenshot of the failure: {exc}")
    finally:
        context.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab (own cookies) at 1280x900, zh-CN, Asia/Shanghai."""
    yield from _open_page(browser, request, DESKTOP)


@pytest.fixture
def phone_page(browser, request):
    """A fresh tab as a phone: 360x740 CSS pixels, touch, device scale factor 2."""
    yield from _open_page(browser, request, PHONE)


def sign_in(page, live_server, username: str, password: str) -> None:
    """Sign in through the real /login/ form, as a person would; fails with the page's
    message if the sign-in is refused."""
    page.goto(f"{live_server.url}/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    if urlsplit(page.url).path.rstrip("/").endswith("/login"):
        alerts = page.get_by_role("alert").all_inner_texts()
        raise AssertionError(f"sign-in as {username} refused: {' '.join(alerts) or page.url}")


@pytest.fixture
def login():
    """login(page, live_server, username, password)."""
    return sign_in
