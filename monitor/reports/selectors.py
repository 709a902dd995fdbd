"""Which region's figures a user may read, and the day they are asked for."""

import re
from datetime import date

from django.utils import timezone

from accounts import policy
from config.errors import DomainError
from households.models import Region

# Figures before the monitoring mechanism existed are not asked for; a bound keeps a typo
# (0001-01-01) from being read as a request for all of history.
EARLIEST_AS_OF = date(2016, 1, 1)
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_CODE = re.compile(r"[0-9]{12}")


def parse_as_of(text: str | None) -> date:
    """The day of the figures: today when not given; a real day, not in the future."""
    today = timezone.localdate()
    if not text:
        return today
    text = text.strip()
    try:
        # Only YYYY-MM-DD: fromisoformat alone would also read 20260101 or 2026-W01-1.
        if not ISO_DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise DomainError("统计截止日期格式应为 YYYY-MM-DD，例如 2026-06-30。") from None
    if day > today:
        raise DomainError(f"统计截止日期不能晚于今天（{today.isoformat()}）。")
    if day < EARLIEST_AS_OF:
        raise DomainError(f"统计截止日期不能早于 {EARLIEST_AS_OF.isoformat()}。")
    return day


def region_named(user, code: str | None) -> Region:
    """The region a request names by its 12-digit code (the user's own when none is named);
    no such code is the same 404 as a region outside the user's, which the caller's policy
    check answers."""
    code = (code or "").strip() or (user.region_id or "")
    region = Region.objects.filter(code=code).first() if ISO_CODE.fullmatch(code) else None
    if region is None:
        raise policy.out_of_scope()
    return region


def report_region_for(user, code: str | None) -> Region:
    """The region asked for, if the user may read its figures."""
    region = region_named(user, code)
    policy.require(user, "report.read", region)
    return region
