"""What every page view shares: the people-page guard, service errors shown on forms, and
the answer to an htmx request. Views stay thin: validate a form, call one service, render."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import policy
from accounts.policy import PolicyDenied
from config.errors import DomainError


def newest(rows, shown: int, every: bool) -> tuple[list, bool]:
    """A page's list that grows without end (warnings, a timeline): its first `shown` rows,
    newest first already, and whether others were left out — or all of them when `every`
    (the page's "显示全部" link). A queryset is read for one row more than shown."""
    if every:
        return list(rows), False
    first = list(rows[: shown + 1])
    return first[:shown], len(first) > shown


def people_page(view):
    """Signed in, and a role that works on people's data in a region (else 403)."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        decision = policy.decide(request.user, "registry.read")
        if not decision:
            raise PermissionDenied(decision.reason)
        if request.user.region_id is None:
            raise PermissionDenied("您的账号未设置管辖范围，请联系系统管理员。")
        return view(request, *args, **kwargs)

    return guarded


def people_page_for(action: str):
    """A people page for the roles the policy lets take `action` (others get 403)."""

    def decorate(view):
        @people_page
        @wraps(view)
        def guarded(request, *args, **kwargs):
            decision = policy.decide(request.user, action)
            if not decision:
                raise PermissionDenied(decision.reason)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def show_service_error(form, exc: Exception) -> None:
    """Put a service's refusal where the person will look: a field's own error beside that
    field, anything else at the top of the form. Out of scope is a 404 as everywhere."""
    if isinstance(exc, PolicyDenied) and exc.http_status == 404:
        raise Http404(exc.message)
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for field, messages in exc.message_dict.items():
                target = field if field in form.fields else None
                if field == NON_FIELD_ERRORS:
                    target = None
                for message in messages:
                    form.add_error(target, message)
        else:
            for message in exc.messages:
                form.add_error(None, message)
        return
    if isinstance(exc, DomainError):
        # Unmet preconditions one per line; the joined message would repeat them.
        for item in exc.extra.get("unmet") or [exc.message]:
            form.add_error(None, item)
        return
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc) or "您无权办理此事项。")
        return
    raise exc


SERVICE_ERRORS = (ValidationError, DomainError, PermissionDenied)


def call_service(form, service, **kwargs):
    """Run one service; on a refusal, show it on the form and return None."""
    try:
        return service(**kwargs)
    except SERVICE_ERRORS as exc:
        show_service_error(form, exc)
        return None


def safe_next(request) -> str | None:
    """Where a form came from (a queue, the clearance page), if it is an address of ours."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None
