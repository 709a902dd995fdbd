"""Local rules as data (本地时限与规则): a region's own clocks and settings for a year.

Counties shorten their clocks, choose how their clues reach villages and how many reported
cases the county re-visits. Each value is read from the most specific region's policy of the
year that sets it (village, township, county, city, province), and otherwise from the
installation setting (settings.MONITOR), so a county that sets nothing runs on the defaults.
How clues are dispatched and how long a village has to verify one are set from the county up
only (COUNTY_RULES): the county dispatches its clues, one rule for its whole round.
"""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import policy as rules_policy
from accounts.audit import audit_record
from accounts.choices import AuditAction
from households.choices import RegionLevel
from households.models import Region
from households.services import YEARLY_YEARS, yearly_record_save
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
# How a county's clues reach its villages and how long they have to verify them are the
# county's (it dispatches them, and a round spans its townships): set by a county or a
# region above it only. A township's or village's value is refused on save and never read.
COUNTY_RULES = ("clue_auto_dispatch", "clue_verification_workdays")
COUNTY_RULES_REFUSED = "预警线索的下发方式和核实时限由县级设定"


def region_chain(region_code: str) -> list[str]:
    """The region and every region above it, most specific first (12-digit codes)."""
    codes = []
    for length in PREFIX_LENGTHS:
        code = region_code[:length].ljust(12, "0")
        if code not in codes:
            codes.append(code)
    return codes


def field_chain(chain: list[str], field: str) -> list[str]:
    """The regions of `chain` whose policy may set `field`: all, or from the county up."""
    if field not in COUNTY_RULES:
        return chain
    return [code for code in chain if Region.level_of_code(code) <= RegionLevel.COUNTY]


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
        for code in field_chain(chain, field):
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


# --- the policies as records: their ranges, where each value comes from, and their writes ---

REGION_POLICY_MANAGE = "region_policy.manage"

# Each number's label, unit and range (the clocks the counties report: 15 days, 5 working
# days, 2 days; months of monitoring and of follow-up; the share the county re-visits).
NUMBER_FIELDS = {
    "identification_days": ("识别认定时限", "天", 1, 60),
    "village_verification_workdays": ("村级入户核实时限", "个工作日", 1, 30),
    "self_application_accept_days": ("乡镇受理农户申报时限", "天", 1, 60),
    "clue_verification_workdays": ("预警线索核实时限", "个工作日", 1, 30),
    "clearance_min_months": ("风险消除最短监测期", "个月", 1, 60),
    "follow_up_months": ("消除后跟踪期", "个月", 1, 60),
    "spot_check_percent": ("县级抽查比例", "%", 0, 100),
}
FLAG_FIELDS = {"clue_auto_dispatch": "预警线索自动下发到村"}
POLICY_FIELDS = (*NUMBER_FIELDS, *FLAG_FIELDS)


def _shown(field: str, value) -> str:
    if field in FLAG_FIELDS:
        return "是" if value else "否（由县级下发）"
    _, unit, _, _ = NUMBER_FIELDS[field]
    return f"{value}{unit}" if unit == "%" else f"{value} {unit}"


def local_rules_explained(region_code: str, year: int) -> list[dict]:
    """Every local value of a region and year with where it comes from: the region whose
    policy sets it (the most specific one), or the installation default. Two queries."""
    chain = region_chain(region_code)
    policies = {
        policy.region_id: policy
        for policy in RegionPolicy.objects.filter(year=year, region_id__in=chain)
    }
    names = dict(Region.objects.filter(code__in=chain).values_list("code", "name"))
    rows = []
    for field in POLICY_FIELDS:
        source = next(
            (
                code
                for code in field_chain(chain, field)
                if code in policies and getattr(policies[code], field) is not None
            ),
            None,
        )
        value = getattr(policies[source], field) if source else settings.MONITOR[DEFAULTS[field]]
        label = NUMBER_FIELDS[field][0] if field in NUMBER_FIELDS else FLAG_FIELDS[field]
        rows.append(
            {
                "field": field,
                "label": label,
                "value": value,
                "shown": _shown(field, value),
                "source_region": source,
                "source_name": names.get(source, source) if source else "",
                "is_default": source is None,
                "source_text": f"{names.get(source, source)} {year} 年度设定"
                if source
                else "系统默认（安装设置）",
            }
        )
    return rows


def region_policies_managed_by(user):
    """The policies a user keeps: the county approver's county, the administrator's all."""
    from monitor.administration import managed

    queryset = RegionPolicy.objects.select_related("region").order_by("-year", "region_id")
    return managed(queryset, user=user, action=REGION_POLICY_MANAGE)


def _checked_values(values: dict) -> dict:
    """The policy's values, each empty (None: the region above or the default applies) or
    inside its range; the errors name each field in Chinese."""
    errors, clean = {}, {}
    for field, (label, unit, low, high) in NUMBER_FIELDS.items():
        value = values.get(field)
        if value in (None, ""):
            clean[field] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors[field] = f"{label}应为整数"
            continue
        if not low <= value <= high:
            errors[field] = f"{label}应在 {low} 至 {high} {unit}之间，或留空沿用默认"
            continue
        clean[field] = value
    for field, label in FLAG_FIELDS.items():
        value = values.get(field)
        if value not in (None, True, False):
            errors[field] = f"请选择{label}的方式"
            continue
        clean[field] = value
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def region_policy_save(
    *, by, region: Region, year: int, source: str = "", region_policy=None, **values
) -> RegionPolicy:
    """Create a region's local rules for a year, or change them (`region_policy`): both its
    old and its new region must be the user's to manage. An empty value falls back to the
    region above, then to the installation default. The saved record is returned; the one
    passed in is left as it was."""
    unknown = sorted(set(values) - set(POLICY_FIELDS))
    if unknown:
        raise ValidationError({"__all__": f"未知的规则项：{'、'.join(unknown)}"})
    if region_policy is not None:
        rules_policy.require(by, REGION_POLICY_MANAGE, region_policy)
    if region is None:
        raise ValidationError({"region": "请选择适用区划"})
    clean = _checked_values(values)
    if Region.level_of_code(region.code) > RegionLevel.COUNTY:
        refused = [field for field in COUNTY_RULES if clean[field] is not None]
        if refused:
            raise ValidationError(dict.fromkeys(refused, COUNTY_RULES_REFUSED))
    record = RegionPolicy(
        pk=region_policy.pk if region_policy is not None else None,
        region=region,
        year=year,
        source=(source or "").strip(),
        **clean,
    )
    rules_policy.require(by, REGION_POLICY_MANAGE, record)
    if year is None or not YEARLY_YEARS[0] <= year <= YEARLY_YEARS[1]:
        raise ValidationError({"year": f"年度应在 {YEARLY_YEARS[0]} 至 {YEARLY_YEARS[1]} 之间"})
    if all(value is None for value in clean.values()):
        raise ValidationError(
            {"__all__": "请至少填写一项本地时限或规则（全部留空即沿用上级或系统默认）"}
        )
    if len(record.source) > 200:
        raise ValidationError({"source": "依据文件不超过200个字"})
    record.full_clean(validate_unique=False, validate_constraints=False)
    yearly_record_save(record, what="本地时限与规则")
    audit_record(
        actor=by,
        action=AuditAction.CREATE if region_policy is None else AuditAction.UPDATE,
        obj=record,
        object_label=f"本地时限与规则 {region.name} {year}",
        detail={"region": region.pk, "year": year, **clean},
    )
    return record


@transaction.atomic
def region_policy_delete(*, by, region_policy: RegionPolicy) -> None:
    rules_policy.require(by, REGION_POLICY_MANAGE, region_policy)
    pk = region_policy.pk
    label = f"本地时限与规则 {region_policy.region.name} {region_policy.year}"
    detail = {"region": region_policy.region_id, "year": region_policy.year}
    region_policy.delete()
    audit_record(
        actor=by,
        action=AuditAction.DELETE,
        object_type=RegionPolicy._meta.label_lower,
        object_id=str(pk),
        object_label=label,
        detail=detail,
    )
