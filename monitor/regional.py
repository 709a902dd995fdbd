"""Local rules as data (本地时限与规则): a region's own clocks and settings for a year.

Counties shorten their clocks, choose how their clues reach villages and how many reported
cases the county re-visits. Each value is read from the most specific region's policy of the
year that sets it (village, township, county, city, province), and otherwise from the
installation setting (settings.MONITOR), so a county that sets nothing runs on the defaults.
"""

from datetime import date

from django.conf import settings

from monitor.models import RegionPolicy

# Policy field → the installation setting it overrides.
DEFAULTS = {
    "identification_days": "IDENTIFICATION_DAYS",
    "village_verification_workdays": "VILLAGE_VERIFICATION_WORKDAYS",
    "self_application_accept_days": "SELF_APPLICATION_ACCEPT_DAYS",
    "clue_verification_workdays": "CLUE_VERIFICATION_WORKDAYS",
    "clearance_min_months": "CLEARANCE_MIN_MONTHS",
    "follow_up_months": "FOLLOW_UP_MONTHS",
    "spot_check_percent": "SPOT_CHECK_PERCENT",
    "clue_auto_dispatch": "CLUE_AUTO_DISPATCH",
}
PREFIX_LENGTHS = (12, 9, 6, 4, 2)


def region_chain(region_code: str) -> list[str]:
    """The region and every region above it, most specific first (12-digit codes)."""
    codes = []
    for length in PREFIX_LENGTHS:
        code = region_code[:length].ljust(12, "0")
        if code not in codes:
            codes.append(code)
    return codes


def local_rules(region_code: str, year: int) -> dict:
    """Every local value for a region and year, in one query: {field: value}."""
    chain = region_chain(region_code)
    policies = {
        policy.region_id: policy
        for policy in RegionPolicy.objects.filter(year=year, region_id__in=chain)
    }
    values = {}
    for field, setting in DEFAULTS.items():
        value = None
        for code in chain:
            policy = policies.get(code)
            if policy is not None and getattr(policy, field) is not None:
                value = getattr(policy, field)
                break
        values[field] = settings.MONITOR[setting] if value is None else value
    return values


def local_rule(region_code: str, field: str, day: date | None = None) -> int | bool:
    """One local value for a region, in force in the year of `day` (today by default)."""
    from django.utils import timezone

    year = (day or timezone.localdate()).year
    return local_rules(region_code, year)[field]
