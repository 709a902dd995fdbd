"""Security middleware of the web application (等保 level 3) and the deployment checks that
go with it.

* SecurityHeadersMiddleware: the Content-Security-Policy of every page (scripts, styles and
  everything else from our own origin only; no inline script or style attribute — a page
  that needs an inline block marks it with the request's nonce) and a Permissions-Policy
  turning off the device features no page uses. Django's SecurityMiddleware sends the
  others (nosniff, Referrer-Policy, HSTS over HTTPS), XFrameOptionsMiddleware X-Frame-Options.
* AccountGateMiddleware: a signed-in person who still owes the second factor, or whose
  password has expired or was set by an administrator, reaches only the page that settles
  it (and sign-out).
* `check --deploy` warns when the settings weaken these controls."""

import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.core import checks
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect

# Device features no page of ours uses; a script injected into a page gets none of them.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            # SVG charts are inline markup; Swagger UI's icons are data: URIs.
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A fresh nonce per response: templates mark an inline block they cannot avoid
        # (Swagger UI's start-up) with {{ request.csp_nonce }}.
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        # Documents only: a policy on a PDF or a spreadsheet download only gets in the way
        # of the browser's own viewer.
        if content_type.startswith(("text/html", "image/svg+xml")):
            response.headers.setdefault(
                "Content-Security-Policy", content_security_policy(request.csp_nonce)
            )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


# The views a half-signed-in person may still reach (URL names, resolver's view_name).
_ALWAYS_OPEN = {"login", "logout", "admin:logout", "self-application", "apply-lookup"}
SECOND_FACTOR_OPEN = _ALWAYS_OPEN | {"second-factor-page", "second-factor-enrol-page"}
PASSWORD_EXPIRED_OPEN = SECOND_FACTOR_OPEN | {"password-change"}


class AccountGateMiddleware:
    """After AuthenticationMiddleware and django-otp's OTPMiddleware. Only sessions: a
    machine client's API key is read by the API view itself, and is never sent here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        from accounts import second_factor
        from accounts.passwords import password_change_reason

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        name = request.resolver_match.view_name if request.resolver_match else ""
        if second_factor.pending(user):
            request.account_gate = "second_factor"
            if name in SECOND_FACTOR_OPEN:
                return None
            return _refuse(request, "second-factor-page", "请先输入动态口令完成登录。")
        # Expired, or set by an administrator (accounts/passwords.py).
        reason = password_change_reason(user)
        if reason:
            request.account_gate = "password"
            if name in PASSWORD_EXPIRED_OPEN:
                return None
            return _refuse(request, "password-change", reason)
        return None


def _refuse(request, page: str, message: str):
    from django.urls import reverse

    target = reverse(page)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=403)
    if request.method == "GET":
        target += "?" + urlencode({"next": request.get_full_path()})
    if request.headers.get("HX-Request") == "true":
        # An in-place request would swap the whole page into its target: load it instead.
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


# --- check --deploy ----------------------------------------------------------------------


@checks.register(checks.Tags.security, deploy=True)
def check_account_security(app_configs, **kwargs):
    found = []
    if not settings.SECOND_FACTOR_REQUIRED:
        found.append(
            checks.Warning(
                "The second factor (TOTP) is off: county approvers and administrators sign "
                "in with a password alone.",
                hint="Unset DJANGO_SECOND_FACTOR (or set it to 1) in production.",
                id="fanpin.W001",
            )
        )
    if settings.PASSWORD_MAX_AGE_DAYS <= 0 or settings.PASSWORD_MAX_AGE_DAYS > 90:
        found.append(
            checks.Warning(
                "Passwords must expire within 90 days (等保 level 3).",
                hint="Set PASSWORD_MAX_AGE_DAYS between 1 and 90.",
                id="fanpin.W002",
            )
        )
    # The end must move with activity: on every request (Django's own setting), or at most
    # SESSION_TOUCH_SECONDS apart by config/sessions.py.
    idle_end_moves = settings.SESSION_SAVE_EVERY_REQUEST or (
        "config.sessions.IdleTimeoutMiddleware" in settings.MIDDLEWARE
        and 0 < getattr(settings, "SESSION_TOUCH_SECONDS", 0) < settings.SESSION_COOKIE_AGE
    )
    if settings.SESSION_COOKIE_AGE > 30 * 60 or not idle_end_moves:
        found.append(
            checks.Warning(
                "Sessions must end after at most 30 minutes without a request.",
                hint="Set DJANGO_SESSION_AGE to 1800 seconds or less.",
                id="fanpin.W003",
            )
        )
    cache_backend = settings.CACHES["default"]["BACKEND"]
    if cache_backend.endswith(("LocMemCache", "DummyCache")):
        found.append(
            checks.Warning(
                "Sign-in failures are counted in a per-process cache: with several web "
                "processes each one allows its own 5 tries.",
                hint="Set REDIS_URL so every process shares one count.",
                id="fanpin.W004",
            )
        )
    return found
