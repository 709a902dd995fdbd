"""Writing, verifying and pruning the audit log. Callers pass labels that are already masked.

Who acts: a service or page passes `actor` to `audit_record`. Writes that happen deeper
down — an account saved by the admin site, a trail row written by the workflow engine —
take the actor from `acting()`, which the services and the admin site open around their
work (and `AuditActorMiddleware` around every request). A command acts as nobody: its
events carry no actor.
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.db import connections, router, transaction
from django.utils import timezone

from accounts.choices import AuditAction, Role
from accounts.models import (
    AUDIT_RETENTION_DAYS,
    GENESIS_HASH,
    HASHED_FIELDS,
    AuditChainHead,
    AuditEvent,
    audit_hash,
)

_acting: contextvars.ContextVar = contextvars.ContextVar("audit_acting", default=(None, None))


@contextmanager
def acting(user, request=None) -> Iterator[None]:
    """Events written inside this block without an explicit actor are this user's."""
    token = _acting.set((user, request))
    try:
        yield
    finally:
        _acting.reset(token)


def acting_now() -> tuple:
    """(user, request) of the innermost `acting` block, or (None, None)."""
    return _acting.get()


class AuditActorMiddleware:
    """Opens `acting(request.user, request)` for the whole request (after Django's
    authentication middleware), so writes made deep inside a request are attributed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting(getattr(request, "user", None), request):
            return self.get_response(request)


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_label: str = "",
    reason: str = "",
    detail: dict | None = None,
    request=None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_label = object_label or str(obj)
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_label=object_label[:200],
        reason=reason[:300],
        detail=detail or {},
        # A service called inside a request without it (a key confirmed on a page, a round
        # sent down) still records where the request came from.
        ip=client_ip(request if request is not None else acting_now()[1]),
    )


def _acting_actor(request=None):
    user, acting_request = acting_now()
    return user, request if request is not None else acting_request


# --- accounts ----------------------------------------------------------------------------


def account_label(account) -> str:
    role = Role(account.role).label if account.role in Role.values else "无角色"
    return f"{account.get_username()}（{role}）"


def account_changes_record(account, *, before: dict | None, password_set: bool) -> None:
    """The events of one save of an account (accounts.models.User.save): its creation, or
    each change of role, region, activation, back-office rights and password."""
    actor, request = _acting_actor()

    def record(action, detail):
        audit_record(
            actor=actor,
            action=action,
            obj=account,
            object_label=account_label(account),
            detail=detail,
            request=request,
        )

    if before is None:
        record(
            AuditAction.ACCOUNT_CREATE,
            {
                "role": account.role,
                "region": account.region_id,
                "is_active": account.is_active,
                "is_staff": account.is_staff,
                "is_superuser": account.is_superuser,
            },
        )
        return
    if before["role"] != account.role:
        record(AuditAction.ROLE_CHANGE, {"from": before["role"], "to": account.role})
    if before["region_id"] != account.region_id:
        record(AuditAction.REGION_CHANGE, {"from": before["region_id"], "to": account.region_id})
    if before["is_active"] != account.is_active:
        action = (
            AuditAction.ACCOUNT_ACTIVATE if account.is_active else AuditAction.ACCOUNT_DEACTIVATE
        )
        record(action, {})
    rights = {
        name: [before[name], getattr(account, name)]
        for name in ("is_staff", "is_superuser")
        if before[name] != getattr(account, name)
    }
    if rights:
        record(AuditAction.PRIVILEGE_CHANGE, rights)
    if password_set:
        by_self = actor is not None and getattr(actor, "pk", None) == account.pk
        record(AuditAction.PASSWORD_SET, {"by_self": by_self})


# --- verifying the chain -----------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """The first row at which the chain does not hold."""

    seq: int | None
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"第 {self.seq} 条" if self.seq is not None else "链尾"
        if self.event_id is not None:
            where += f"（编号 {self.event_id}）"
        return f"{where}：{self.reason}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str
    broken: ChainBreak | None


def audit_verify(*, using: str | None = None, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain from the first kept row: each row must follow the one before (no
    gap in the sequence), carry that row's hash, and hash to its own; the last row must be
    the head's. Reports the first row at which any of this fails."""
    using = using or router.db_for_read(AuditEvent)
    head = AuditChainHead.objects.using(using).filter(pk=1).first() or AuditChainHead()
    expected_seq, expected_prev = head.pruned_through + 1, head.pruned_hash
    checked, first_seq, last_seq = 0, None, None
    rows = (
        AuditEvent.objects.using(using)
        .order_by("seq", "id")
        .values("id", "prev_hash", "row_hash", *HASHED_FIELDS)
        .iterator(chunk_size=chunk_size)
    )

    def broken(row, reason) -> ChainReport:
        if row is None:
            where = ChainBreak(None, None, reason)
        else:
            where = ChainBreak(row["seq"], row["id"], reason)
        return ChainReport(checked, first_seq, last_seq, expected_prev, where)

    for row in rows:
        if row["seq"] is None:
            return broken(row, "没有链序号（未经链式写入）")
        if row["seq"] != expected_seq:
            if row["seq"] < expected_seq:
                return broken(row, f"序号 {row['seq']} 位于已清理的部分，却仍在表中")
            return broken(row, f"应为第 {expected_seq} 条：其前的记录缺失（被删除）")
        if row["prev_hash"] != expected_prev:
            return broken(row, "记录的前一条摘要与前一条记录不符（前一条被改动、删除或插入）")
        if audit_hash(row["prev_hash"], row) != row["row_hash"]:
            return broken(row, "内容与摘要不符（该条被改动）")
        first_seq = first_seq if first_seq is not None else row["seq"]
        last_seq, checked = row["seq"], checked + 1
        expected_seq, expected_prev = row["seq"] + 1, row["row_hash"]
    if head.length != expected_seq - 1 or head.last_hash != expected_prev:
        return broken(
            None, f"链首记录共 {head.length} 条，实存至第 {expected_seq - 1} 条（末尾记录缺失）"
        )
    return ChainReport(checked, first_seq, last_seq, expected_prev, None)


# --- retention ---------------------------------------------------------------------------


def audit_prune(*, older_than_days: int, now=None, using: str | None = None) -> int:
    """Remove the oldest rows, those older than `older_than_days` (at least the 185 days
    of retention), as one run from the start of the chain, and record the hash of the
    last one removed in the chain's head, so the rows kept still verify. The pruning is
    itself an audit event. Returns the number of rows removed."""
    if older_than_days < AUDIT_RETENTION_DAYS:
        raise ValueError(f"审计日志至少保存 {AUDIT_RETENTION_DAYS} 天")
    using = using or router.db_for_write(AuditEvent)
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    connection = connections[using]
    with transaction.atomic(using=using):
        head = AuditChainHead.locked(using)
        events = AuditEvent.objects.using(using)
        # Only a run from the chain's start: a row is removed only if every row before it
        # is removed too, so the kept rows stay one unbroken chain.
        first_young = events.filter(at__gte=cutoff).order_by("seq").values("seq").first()
        last = events.order_by("-seq").values("seq").first()
        if last is None:
            return 0
        through = first_young["seq"] - 1 if first_young else last["seq"]
        if through <= head.pruned_through:
            return 0
        last_removed = events.filter(seq=through).values("row_hash").get()["row_hash"]
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # The trigger lets a DELETE through only for old rows, and only here.
                cursor.execute("SET LOCAL fanpin.audit_prune = 'on'")
            cursor.execute(f"DELETE FROM {table} WHERE seq <= %s", [through])  # noqa: S608
            removed = cursor.rowcount
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL fanpin.audit_prune = 'off'")
        AuditChainHead.objects.using(using).filter(pk=1).update(
            pruned_through=through, pruned_hash=last_removed
        )
        audit_record(
            actor=None,
            action=AuditAction.AUDIT_PRUNE,
            object_type=AuditEvent._meta.label_lower,
            object_label=f"清理审计日志至第 {through} 条",
            detail={
                "through_seq": through,
                "removed": removed,
                "older_than_days": older_than_days,
                "last_removed_hash": last_removed,
            },
        )
    return removed


__all__ = [
    "GENESIS_HASH",
    "AuditActorMiddleware",
    "ChainBreak",
    "ChainReport",
    "account_changes_record",
    "acting",
    "acting_now",
    "audit_prune",
    "audit_record",
    "audit_verify",
    "client_ip",
]
