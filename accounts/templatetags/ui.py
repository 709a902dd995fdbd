"""Template helpers shared by every page: Chinese dates and amounts, and the policy's
answer for a button (templates ask the policy; they never decide a permission)."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone

from accounts import policy

register = template.Library()


@register.filter
def cn_date(value) -> str:
    """2026年11月22日 (no leading zeros, as people write it)."""
    if not value:
        return "—"
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    if not isinstance(value, date):
        return str(value)
    return f"{value.year}年{value.month}月{value.day}日"


@register.filter
def cn_datetime(value) -> str:
    if not value:
        return "—"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{cn_date(local)} {local:%H:%M}"


@register.filter
def yuan(value) -> str:
    """1,234.50 元; a blank amount is a dash."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{amount:,.2f} 元"


@register.simple_tag(takes_context=True)
def may(context, action: str, obj=None) -> bool:
    """{% may "case.report" case as can_report %}: the policy's answer for this user."""
    return policy.allows(context["request"].user, action, obj)


@register.filter
def field_class(bound_field) -> str:
    return "field invalid" if bound_field.errors else "field"


@register.filter
def days_late(due_on, today) -> int:
    """Whole days past a due day (0 when not late)."""
    if not due_on or not today:
        return 0
    return max((today - due_on).days, 0)


@register.filter
def percent(value) -> str:
    """A rate (0.6933) as a percentage with one decimal (69.3%); no rate is a dash."""
    if value is None or value == "":
        return "—"
    return f"{float(value):.1%}"
