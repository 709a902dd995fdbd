"""下发批次: the county's dispatch of the clues a list raised in it, and the local rules that
decide whether it dispatches at all.

Each processed batch leaves one round (DispatchRound) per county its new clues lie in. In a
county that dispatches by hand (the default, MONITOR_CLUE_AUTO_DISPATCH=0) the clues wait as
待县级下发 and the county approver is told; the county then sends the whole round down at
once (`round_dispatch`, set-based: one statement each for the audit rows, the clues, the
round) or clue by clue (`clue_dispatch`, monitor/feeds/clues.py). In a county whose local
rule is automatic dispatch (RegionPolicy.clue_auto_dispatch) the clues go straight to the
villages and the round is recorded as dispatched by nobody (automatic).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status as http

from accounts import policy
from accounts.audit import acting_now, audit_record
from accounts.choices import AuditAction, Role
from households.choices import PREFIX_LENGTH, RegionLevel
from households.models import Region
from monitor.choices import ClueStatus, NotificationKind
from monitor.deadlines import add_workdays, region_code_at
from monitor.engine import WorkflowError
from monitor.models import DispatchRound, Notification, RegionPolicy
from monitor.regional import COUNTY_RULES, DEFAULTS, field_chain, region_chain


def sql_now():
    """Now, as the ORM would store it: raw statements that write timestamps next to rows the
    ORM writes must sort with them (SQLite keeps text, and an offset suffix sorts apart)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


COUNTY_DIGITS = PREFIX_LENGTH[RegionLevel.COUNTY]
CLUE_RULES = COUNTY_RULES


# --- local rules, many regions at once ----------------------------------------------------


def local_values(codes: Iterable[str], year: int, fields=CLUE_RULES) -> dict[str, dict]:
    """`monitor.regional.local_rules` for many regions in one query: for each code, each
    field's value from the most specific region's policy of the year that sets it, else the
    installation setting."""
    chains = {code: region_chain(code) for code in codes}
    wanted = {code for chain in chains.values() for code in chain}
    found = RegionPolicy.objects.filter(year=year, region_id__in=wanted)
    policies = {policy_row.region_id: policy_row for policy_row in found}
    values = {}
    for code, chain in chains.items():
        values[code] = {}
        for field in fields:
            value = next(
                (
                    getattr(policies[link], field)
                    for link in field_chain(chain, field)
                    if link in policies and getattr(policies[link], field) is not None
                ),
                None,
            )
            values[code][field] = settings.MONITOR[DEFAULTS[field]] if value is None else value
    return values


@dataclass(frozen=True)
class CountyRules:
    """How new clues are raised, county by county: the installation's default and the
    counties whose own rules differ (few: the counties that set a policy)."""

    default_auto: bool
    default_workdays: int
    # 6-digit county prefix → (automatic dispatch, verification working days)
    exceptions: dict

    def any_auto(self) -> bool:
        return self.default_auto or any(auto for auto, _ in self.exceptions.values())


def county_clue_rules(year: int) -> CountyRules:
    """The counties whose clue rules of the year differ from the installation's: found from
    the policies that set either rule (a county's own, or one of the city or province above
    it, which applies to each of its counties), in three queries whatever the list."""
    default_auto = bool(settings.MONITOR["CLUE_AUTO_DISPATCH"])
    default_workdays = int(settings.MONITOR["CLUE_VERIFICATION_WORKDAYS"])
    setting = RegionPolicy.objects.filter(year=year).filter(
        Q(clue_auto_dispatch__isnull=False) | Q(clue_verification_workdays__isnull=False)
    )
    prefixes = {
        Region.prefix_of_code(code)
        for code in setting.values_list("region_id", flat=True)
        # Rules of a township or a village do not decide a county's dispatch.
        if Region.level_of_code(code) <= RegionLevel.COUNTY
    }
    exceptions = {}
    if prefixes:
        under = Q()
        for prefix in prefixes:
            under |= Q(code__startswith=prefix)
        counties = Region.objects.filter(under, level=RegionLevel.COUNTY).values_list(
            "code", flat=True
        )
        for code, values in local_values(counties, year).items():
            rule = (bool(values["clue_auto_dispatch"]), int(values["clue_verification_workdays"]))
            if rule != (default_auto, default_workdays):
                exceptions[code[:COUNTY_DIGITS]] = rule
    return CountyRules(default_auto, default_workdays, exceptions)


# --- the whole round ----------------------------------------------------------------------

_PENDING = "FROM monitor_clue WHERE source_batch_id = %s AND village_id LIKE %s AND status = %s"

# 返贫风险: the village of each clue of the round whose household is in its follow-up period,
# told as the clue reaches it (the county was told how many at the list's arrival). Same key
# as the automatic dispatch's, so a clue is announced once whichever way it goes down.
_TELL_RELAPSES = f"""
    INSERT INTO monitor_notification (region_id, role, case_id, kind, message, "key", created_at)
    SELECT cl.village_id, %s, cl.relapse_of_id, %s, %s || h.number || %s,
        %s || CAST(cl.id AS varchar), %s
    FROM monitor_clue cl JOIN households_household h ON h.id = cl.household_id
    WHERE cl.id IN (SELECT id {_PENDING}) AND cl.relapse_of_id IS NOT NULL
    ON CONFLICT ("key") DO NOTHING
"""  # noqa: S608 - constant SQL; every value is a bound parameter


def _lock_pending(cursor, params) -> int:
    """Lock the round's waiting clues, in id order, and count them. A clue sent down on its
    own at this moment is either already locked by its step (we wait, then it is no longer
    waiting) or waits for us (and then finds it sent: 409)."""
    if connection.vendor == "postgresql":
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT id {_PENDING} ORDER BY id FOR UPDATE) locked",  # noqa: S608
            params,
        )
    else:  # SQLite: one writer at a time already
        cursor.execute(f"SELECT COUNT(*) {_PENDING}", params)
    return cursor.fetchone()[0]


def round_source(dispatch_round: DispatchRound) -> str:
    batch = dispatch_round.batch
    return batch.department.name if batch.department_id else "数据筛查"


@transaction.atomic
def round_dispatch(*, round_id: int, by, today: date | None = None) -> DispatchRound:
    """下发 a whole round: every clue of it still waiting goes to its village, with its
    verification deadline from today; one audit row per clue; the round is marked
    dispatched; each village cadre and township reviewer concerned is told how many."""
    # Rounds are the county's: anyone else is refused for the role before anything is
    # looked up (a township's staff are inside the county, not outside it).
    policy.require(by, "rounds.read")
    from monitor.feeds.selectors import rounds_for

    today = today or timezone.localdate()
    found = rounds_for(by).filter(pk=round_id).first()
    if found is None:
        raise WorkflowError(policy.OUT_OF_SCOPE, http.HTTP_404_NOT_FOUND)
    county = found.county_id[:COUNTY_DIGITS]
    # The clue table's own dispatch step, taken for the whole round in two statements.
    from monitor.feeds.clue_workflow import CLUES

    step = CLUES.step("dispatch")
    # Plain strings for the driver (the table holds TextChoices members).
    source, target = str(step.source), str(step.target)
    pending = [found.batch_id, county + "%", source]
    now = timezone.now()
    with connection.cursor() as cursor:
        _lock_pending(cursor, pending)
        # Then the round: of two county staff sending it at once, the second waits here and
        # then finds it sent (409).
        locked = (
            DispatchRound.objects.select_for_update(of=("self",))
            .select_related("batch__department")
            .defer("batch__payload")
            .get(pk=found.pk)
        )
        policy.require(by, "round.dispatch", locked)
        cursor.execute(f"SELECT village_id, COUNT(*) {_PENDING} GROUP BY village_id", pending)
        per_village = dict(cursor.fetchall())
        due_by_village = {
            code: add_workdays(today, values["clue_verification_workdays"])
            for code, values in local_values(per_village, today.year).items()
        }
        cursor.execute(
            "INSERT INTO monitor_cluetransition (clue_id, action, from_status, to_status, "
            "actor_id, actor_role, actor_region, at, comment) "
            f"SELECT id, %s, %s, %s, %s, %s, %s, %s, '' {_PENDING}",
            [
                step.action,
                source,
                target,
                by.pk,
                by.role,
                by.region_id or "",
                sql_now(),
                *pending,
            ],
        )
        cursor.execute(
            _TELL_RELAPSES,
            [
                Role.VILLAGE_CADRE.value,
                NotificationKind.RELAPSE_RISK.value,
                "返贫风险：消除后跟踪期内的农户 ",
                f" 出现在{round_source(locked)}预警名单中，县级已下发预警线索，请及时入户核实",
                "relapse:",
                sql_now(),
                *pending,
            ],
        )
        due_sql, due_params = _due_expression(due_by_village, today)
        cursor.execute(
            f"UPDATE monitor_clue SET status = %s, overdue_since = NULL, due_on = {due_sql} "  # noqa: S608
            "WHERE source_batch_id = %s AND village_id LIKE %s AND status = %s",
            [target, *due_params, *pending],
        )
    locked.dispatched_at, locked.dispatched_by = now, by
    locked.save(update_fields=["dispatched_at", "dispatched_by"])
    locked.sent = sum(per_village.values())
    round_dispatch_audit(locked, by=by, clues=locked.sent, villages=len(per_village))
    _tell_villages_and_townships(locked, per_village, due_by_village)
    return locked


def round_dispatch_audit(dispatch_round, *, by, clues: int, villages: int) -> None:
    """One audit event for a round sent down (等保: the auditor reads what the county did
    with a department's list). The clues' trail rows of a whole round are written in one
    statement, past the signal that audits a single step, so the round is the event: who
    (nobody for the county's automatic rule), which round, list and county, and how many
    clues and villages — counts and region codes only, never a household or a person."""
    batch = dispatch_round.batch
    source = round_source(dispatch_round)
    _, request = acting_now()
    audit_record(
        actor=by,
        action=AuditAction.TRANSITION,
        obj=dispatch_round,
        object_label=f"下发批次 {dispatch_round.pk}：{source}名单 {dispatch_round.county_id} "
        f"{clues} 条线索",
        request=request,
        detail={
            "source": "round_dispatch",
            "round": dispatch_round.pk,
            "batch": batch.pk,
            "department": source,
            "county": dispatch_round.county_id,
            "step": "dispatch",
            "from": ClueStatus.PENDING_DISPATCH.value,
            "to": ClueStatus.VERIFYING.value,
            "clues": clues,
            "villages": villages,
            "automatic": by is None,
        },
    )


def _due_expression(due_by_village: dict, today: date) -> tuple[str, list]:
    """The due day of each village's clues: one value when the villages agree (the usual
    case), else a CASE over the few villages whose own rule differs."""
    groups = defaultdict(list)
    for village, due in due_by_village.items():
        groups[due].append(village)
    if len(groups) <= 1:
        return "%s", [next(iter(groups), today)]
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    common, rest = ordered[0][0], ordered[1:]
    sql, params = "CASE", []
    for due, villages in rest:
        sql += f" WHEN village_id IN ({', '.join(['%s'] * len(villages))}) THEN %s"
        params += [*villages, due]
    return sql + " ELSE %s END", [*params, common]


def _tell_villages_and_townships(dispatch_round, per_village: dict, due_by_village: dict):
    source = round_source(dispatch_round)
    per_township = defaultdict(int)
    notes = []
    for village, count in per_village.items():
        per_township[region_code_at(village, RegionLevel.TOWNSHIP)] += count
        notes.append(
            Notification(
                region_id=village,
                role=Role.VILLAGE_CADRE,
                kind=NotificationKind.CLUES_DISPATCHED,
                message=f"县级下发{source}预警线索 {count} 条，"
                f"请于 {due_by_village[village]:%Y年%m月%d日} 前入户核实并反馈",
                key=f"dispatch:{dispatch_round.pk}:{village}",
            )
        )
    for township, count in per_township.items():
        notes.append(
            Notification(
                region_id=township,
                role=Role.TOWNSHIP_REVIEWER,
                kind=NotificationKind.CLUES_DISPATCHED,
                message=f"县级下发{source}预警线索，本乡镇 {count} 条，已转各村入户核实",
                key=f"dispatch:{dispatch_round.pk}:{township}",
            )
        )
    Notification.objects.bulk_create(notes, ignore_conflicts=True)
