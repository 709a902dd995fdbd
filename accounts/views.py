"""Account pages: changing one's own password, the second factor (enrolment and the code at
sign-in), the grants waiting for a second person, and the answer to a refused CSRF check
(sign-in and sign-out are Django's views)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import grants, second_factor
from accounts.forms import GrantConfirmForm, PasswordChangeForm, SecondFactorForm
from accounts.passwords import password_expired, password_set_by_other
from accounts.policy import PolicyDenied
from config.pages import show_service_error


class PasswordChangePage(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("home")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["set_by_other"] = password_set_by_other(self.request.user)
        context["expired"] = not context["set_by_other"] and password_expired(self.request.user)
        context["max_age_days"] = settings.PASSWORD_MAX_AGE_DAYS
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "密码已修改。")
        return response


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("home")


def _second_factor_role(request) -> None:
    if not second_factor.for_role(request.user):
        raise PermissionDenied("您的角色登录时不使用动态口令。")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def second_factor_page(request):
    """The code at sign-in (a person without an enrolled app is sent to enrol one)."""
    _second_factor_role(request)
    if second_factor.is_verified(request.user):
        return redirect(_next_url(request))
    if second_factor.confirmed_device(request.user) is None:
        target = reverse("second-factor-enrol-page")
        if request.GET.get("next"):
            target += "?" + request.GET.urlencode()
        return redirect(target)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = second_factor.verify(request, form.cleaned_data["code"])
        if outcome == second_factor.Outcome.VERIFIED:
            return redirect(_next_url(request))
        if outcome == second_factor.Outcome.LOCKED:
            messages.error(request, "动态口令错误次数过多，账号已临时锁定，请稍后再登录。")
            return redirect("login")
        form.add_error("code", "动态口令不正确或已使用过，请输入验证器应用上当前的 6 位数字。")
    status = 400 if form.errors else 200
    return render(
        request,
        "accounts/second_factor.html",
        {"form": form, "next": _next_url(request)},
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def second_factor_enrol_page(request):
    """Enrol an authenticator app: the secret and its otpauth:// address, then its first
    code. Replacing an enrolled app needs a session verified with it."""
    _second_factor_role(request)
    user = request.user
    if second_factor.confirmed_device(user) is not None and not second_factor.is_verified(user):
        verify_first = reverse("second-factor-page")
        return redirect(f"{verify_first}?next={reverse('second-factor-enrol-page')}")
    device = second_factor.enrolment_device(user)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = second_factor.enrol(request, device, form.cleaned_data["code"])
        if outcome == second_factor.Outcome.VERIFIED:
            messages.success(request, "动态口令已启用，今后登录时需输入验证器应用上的 6 位数字。")
            return redirect(_next_url(request))
        form.add_error("code", "动态口令不正确，请核对手机时间后输入验证器应用上当前的 6 位数字。")
    status = 400 if form.errors else 200
    return render(
        request,
        "accounts/second_factor_enrol.html",
        {
            "form": form,
            "secret": second_factor.secret_of(device),
            "otpauth_uri": device.config_url,
            "replacing": second_factor.confirmed_device(user) is not None,
            "next": _next_url(request),
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def grant_list_page(request):
    """待复核授权: what an administrator granted and waits for this user as the second
    person, each with its confirm button (POST, CSRF); the services check and audit it."""
    user = request.user
    if not grants.may_confirm_any(user):
        raise PermissionDenied("只有县级审定人和系统管理员复核授权。")
    form = GrantConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed = grants.grant_confirm(
                by=user, kind=form.cleaned_data["kind"], pk=form.cleaned_data["pk"], request=request
            )
        except ValidationError as exc:
            # The second-person rule (not one's own request): said on the page, a 400.
            show_service_error(form, exc)
        except PolicyDenied as exc:
            # A role refused is a 403, a record out of scope a 404, as on every page.
            if exc.http_status == 404:
                raise Http404(exc.message) from None
            raise PermissionDenied(exc.message) from None
        else:
            messages.success(request, f"已复核启用{confirmed}。")
            return redirect("grant-list-page")
    elif request.method == "POST":
        form.add_error(None, "请从列表中选择要复核的授权。")
    return render(
        request,
        "accounts/grants.html",
        {"waiting": grants.waiting_for(user), "form": form, "kinds": _grant_kinds()},
        status=400 if form.errors else 200,
    )


def _grant_kinds() -> dict:
    return {
        "department_account": grants.DEPARTMENT_ACCOUNT,
        "department_key": grants.DEPARTMENT_KEY,
        "account": grants.ACCOUNT,
    }


def csrf_failure(request, reason=""):
    """A form sent without its security token (or from another site): 403 in Chinese, on
    the site's own page instead of Django's English one."""
    message = "页面已过期或请求来源无法确认（缺少安全令牌），请返回刷新页面后重新提交。"
    return render(request, "403.html", {"exception": message}, status=403)
