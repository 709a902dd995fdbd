"""Work-sheet exports (台账导出): asked for on a page or through the API, built by a Celery
job that reports its progress, downloaded by its owner until the link expires.

- `export_request` checks the policy (the region in the user's scope, a role that exports
  people; full ID numbers only for the roles that may reveal them, with a reason), writes
  the audit row and the job, and queues the job after commit;
- `export_run` is the job: it streams the rows (monitor/reports/ledger.py) into an .xlsx under
  MEDIA_ROOT/exports/, updating `rows_done` after each chunk so the page shows progress;
- `exports_expire` (Celery beat) removes files past their expiry and fails jobs that never
  finished (a worker that died);
- `export_download` answers which file a user may fetch, or why not (404, 409, 410).
"""

import logging
import re
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.models import User
from config.errors import DomainError
from config.ratelimit import allow
from households import pii
from households.models import Region
from monitor.models import ExportJob
from monitor.reports.ledger import SheetSpec, ledger, registry
from monitor.reports.selectors import EARLIEST_AS_OF
from sheets.writing import WorkbookWriter

logger = logging.getLogger(__name__)

EXPORT_DIR = "exports"
REASON_MAX = 300
Kind, State = ExportJob.Kind, ExportJob.State
ACTIVE_STATES = (State.QUEUED, State.RUNNING)
FAILED_MESSAGE = "生成失败：系统内部错误，请稍后重新申请；如仍失败请联系系统管理员。"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Characters a file name cannot carry on Windows, where the sheets are opened.
_FILE_NAME_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def _setting(name: str, default: int) -> int:
    return int(settings.MONITOR.get(name, default))


def ttl_hours() -> int:
    return _setting("EXPORT_TTL_HOURS", 24)


def max_active() -> int:
    return _setting("EXPORT_MAX_ACTIVE", 2)


def stale_after() -> timedelta:
    return timedelta(minutes=_setting("EXPORT_STALE_MINUTES", 60))


def export_path(job: ExportJob) -> Path:
    # Named by the job's random id, never by anything the user typed.
    return Path(settings.MEDIA_ROOT) / EXPORT_DIR / f"{job.pk}.xlsx"


def export_file_name(job: ExportJob) -> str:
    """The name the browser saves it under: 监测对象台账-桥头镇-20260302.xlsx."""
    region = _FILE_NAME_FORBIDDEN.sub("", job.region.name) or job.region_id
    full = "-完整身份证号" if job.full_ids else ""
    return f"{job.get_kind_display()}-{region}-{job.as_of:%Y%m%d}{full}.xlsx"


def export_file_response(job: ExportJob, path: Path) -> FileResponse:
    """The file as an attachment under its Chinese name (RFC 5987 filename*), with an ASCII
    name before it for clients that do not read that form (API and page alike)."""
    fallback = f"{job.kind}-{job.region_id}-{job.as_of:%Y%m%d}.xlsx"
    name = job.file_name or fallback
    response = FileResponse(path.open("rb"), content_type=XLSX)
    response["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    )
    return response


# --- selectors -----------------------------------------------------------------------------


def exports_for(user):
    """A user's own exports: nobody else's job is listed, shown or downloaded."""
    if user is None or not user.is_authenticated:
        return ExportJob.objects.none()
    return ExportJob.objects.filter(requested_by=user).select_related("region")


def export_regions_for(user) -> list[Region]:
    """The regions a user picks from on the form: their own and the ones right below it."""
    if not policy.allows(user, "report.export") or user.region_id is None:
        return []
    own = Region.objects.filter(code=user.region_id).first()
    if own is None:
        return []
    return [own, *Region.objects.filter(parent=own, retired=False).order_by("code")]


def sheet_for(job: ExportJob) -> SheetSpec:
    prefix = job.region.prefix
    if job.kind == Kind.REGISTRY:
        return registry(prefix, full_ids=job.full_ids)
    return ledger(prefix, job.as_of, full_ids=job.full_ids)


# --- services ------------------------------------------------------------------------------


def export_request(
    *,
    by,
    kind: str,
    region: Region,
    as_of: date,
    full_ids: bool = False,
    reason: str = "",
    request=None,
) -> ExportJob:
    """Ask for a work sheet. Refused: a region outside the user's (404), a role that does
    not export people (403), full numbers without the right or a reason, a day in the
    future or before 2016 (400), too many exports still waiting or too many full-number
    exports today (429)."""
    policy.require(by, "report.export", region)
    if kind not in Kind.values:
        raise ValidationError({"kind": "请选择台账类型：监测对象台账或农户成员花名册"})
    # A number typed into the reason is not kept in plain text (the ledger's comments and the
    # self-applications' free text are masked the same way).
    reason = pii.mask_pii_in_text((reason or "").strip())
    if full_ids:
        policy.require(by, "report.export_full_ids", region)
        if len(reason) < 2:
            raise ValidationError({"reason": "导出完整身份证号须填写理由（如：报送县医保局核对）"})
    if "\x00" in reason or len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"理由不能超过 {REASON_MAX} 个字，且不能含无效字符"})
    today = timezone.localdate()
    if as_of > today:
        raise ValidationError({"as_of": f"统计截止日期不能晚于今天（{today.isoformat()}）"})
    if as_of < EARLIEST_AS_OF:
        raise ValidationError({"as_of": f"统计截止日期不能早于 {EARLIEST_AS_OF.isoformat()}"})
    if full_ids and not allow(
        f"export-full-ids:{by.pk}", limit=settings.MONITOR["EXPORT_FULL_IDS_PER_DAY"], seconds=86400
    ):
        # A sheet of full numbers is many reveals at once: bounded per day like the reveals.
        raise DomainError("今日导出完整身份证号的次数已达上限，请明日再试或导出脱敏台账。", 429)
    with transaction.atomic():
        # One user's requests one after another, so two at once cannot both pass the limit.
        User.objects.select_for_update().filter(pk=by.pk).first()
        since = timezone.now() - stale_after()
        waiting = ExportJob.objects.filter(
            requested_by=by, state__in=ACTIVE_STATES, created_at__gte=since
        ).count()
        if waiting >= max_active():
            raise DomainError(
                f"您已有 {waiting} 个导出任务在排队或生成中，请等其完成后再申请。", 429
            )
        job = ExportJob.objects.create(
            kind=kind,
            region=region,
            as_of=as_of,
            full_ids=full_ids,
            reason=reason if full_ids else "",
            requested_by=by,
        )
        # What was asked for, never a number: the sheet itself is not kept in the log.
        audit_record(
            actor=by,
            action=AuditAction.EXPORT,
            obj=job,
            reason=reason if full_ids else "",
            detail={
                "kind": kind,
                "region": region.code,
                "as_of": as_of.isoformat(),
                "full_ids": bool(full_ids),
            },
            request=request,
        )
        transaction.on_commit(lambda: export_enqueue(job.pk))
    return job


def export_enqueue(job_id) -> bool:
    """Queue the job. With the broker down the job fails at once with that reason, so the
    page says so instead of waiting forever, and it does not count against the limit."""
    from monitor.reports.tasks import export_run_task

    try:
        export_run_task.delay(str(job_id))
    except (KombuOperationalError, ConnectionError, OSError):
        logger.warning("export %s stored but not queued (broker unavailable)", job_id)
        ExportJob.objects.filter(pk=job_id, state=State.QUEUED).update(
            state=State.FAILED,
            error="任务队列暂不可用，导出未能开始，请稍后重新申请。",
            finished_at=timezone.now(),
        )
        return False
    return True


def export_run(job_id) -> str:
    """The job: stream the sheet to its file, then mark it done with its expiry. Safe to
    run twice: it takes a job only while it is queued (or running past the stale limit,
    when its worker died), so a second delivery of a running or finished job does nothing.
    Returns the job's state."""
    now = timezone.now()
    taken = (
        ExportJob.objects.filter(pk=job_id)
        .filter(Q(state=State.QUEUED) | Q(state=State.RUNNING, started_at__lt=now - stale_after()))
        .update(state=State.RUNNING, started_at=now, finished_at=None, rows_done=0, error="")
    )
    job = ExportJob.objects.select_related("region").filter(pk=job_id).first()
    if job is None or not taken:
        return job.state if job is not None else "missing"
    path = export_path(job)
    mine = ExportJob.objects.filter(pk=job.pk, state=State.RUNNING)
    try:
        spec = sheet_for(job)
        mine.update(rows_total=spec.count())
        # A short UPDATE of its own after each chunk: committed at once, the page sees it.
        written = write_sheet(spec, path, progress=lambda done: mine.update(rows_done=done))
        finished = timezone.now()
        mine.update(
            state=State.DONE,
            rows_total=written,
            rows_done=written,
            file_name=export_file_name(job),
            size_bytes=path.stat().st_size,
            finished_at=finished,
            expires_at=finished + timedelta(hours=ttl_hours()),
        )
        return State.DONE
    except pii.PiiDecryptError:
        logger.exception("export %s: a stored number could not be decrypted", job.pk)
        error = "生成失败：部分身份证号无法解密（密钥配置有误），请联系系统管理员。"
    except Exception:
        logger.exception("export %s failed", job.pk)
        error = FAILED_MESSAGE
    path.unlink(missing_ok=True)
    mine.update(state=State.FAILED, error=error, finished_at=timezone.now())
    return State.FAILED


def write_sheet(spec: SheetSpec, path: Path, progress=None) -> int:
    """Stream a sheet's rows into an .xlsx at `path`; `progress(rows_written)` after each
    chunk. Returns the number of rows written (the header not counted)."""
    written = 0
    with WorkbookWriter(path) as book:
        sheet = book.sheet(spec.title, spec.columns)
        for rows in spec.chunks():
            written += sheet.extend(rows)
            if progress is not None:
                progress(written)
    return written


def export_ledger_file(prefix: str, as_of: date, path, full_ids: bool = False) -> int:
    """The ledger of a region prefix as of a day, written to `path` without a job (for the
    benchmark and for scripts). Returns the rows written."""
    return write_sheet(ledger(prefix, as_of, full_ids=full_ids), Path(path))


def exports_expire(now=None) -> dict:
    """Periodic: remove the files of exports past their expiry (state expired), and fail
    the jobs that never finished (queued or running past the stale limit)."""
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(state=State.DONE, expires_at__lte=now).only("id"):
        export_path(job).unlink(missing_ok=True)
        expired += ExportJob.objects.filter(pk=job.pk, state=State.DONE).update(state=State.EXPIRED)
    cutoff = now - stale_after()
    stale = Q(state=State.QUEUED, created_at__lt=cutoff) | Q(
        state=State.RUNNING, started_at__lt=cutoff
    )
    abandoned = 0
    for job in ExportJob.objects.filter(stale).only("id"):
        # Checked again in the UPDATE: a job a worker took meanwhile is left alone.
        if ExportJob.objects.filter(stale, pk=job.pk).update(
            state=State.FAILED, error="导出超时未完成，请重新申请。", finished_at=now
        ):
            export_path(job).unlink(missing_ok=True)
            abandoned += 1
    return {"expired": expired, "abandoned": abandoned}


def export_download(*, job_id, by) -> tuple[ExportJob, Path]:
    """The file a user may fetch now, or the refusal: someone else's export or an unknown
    id (404), not finished (409), past its expiry (410)."""
    job = exports_for(by).filter(pk=job_id).first() if _is_uuid(job_id) else None
    if job is None:
        raise policy.out_of_scope()
    # Still the user's to read: a user moved to another region loses the old region's files.
    policy.require(by, "report.export", job.region)
    if job.full_ids:
        policy.require(by, "report.export_full_ids", job.region)
    now = timezone.now()
    expired = "下载链接已过期，文件已删除，请重新申请导出。"
    if job.state == State.EXPIRED or (
        job.state == State.DONE and job.expires_at is not None and job.expires_at <= now
    ):
        raise DomainError(expired, 410)
    if job.state in ACTIVE_STATES:
        raise DomainError("导出文件尚在生成中，请稍后再下载。", 409)
    if job.state == State.FAILED:
        raise DomainError(f"该导出任务未能完成（{job.error}），请重新申请。", 409)
    path = export_path(job)
    if not path.exists():
        raise DomainError(expired, 410)
    return job, path


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
