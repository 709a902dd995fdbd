"""Receiving a department's list: checked enough to refuse what can never be processed,
stored (encrypted) before anything else, then queued after commit.

Idempotency: a department names each list with its own batch key. The same key with the
same content returns the first batch; the same key with different content is refused.
"""

import hashlib
import json
import logging
import zlib
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.audit import audit_record
from accounts.choices import AuditAction
from config.errors import DomainError
from households import pii
from monitor.choices import BatchStatus
from monitor.feeds.rows import FeedFormatError, check_file, check_json_rows
from monitor.models import Department, WarningBatch

logger = logging.getLogger(__name__)
PAYLOAD_FIELD = "warning_batch"


@dataclass
class Received:
    batch: WarningBatch
    created: bool


def seal_payload(data: bytes) -> bytes:
    """Compressed, then encrypted. Lists compress about tenfold, which keeps the stored
    batch and the worker's copy of it small (a million rows: ~75 MB of CSV)."""
    return pii.encrypt_bytes(zlib.compress(data, 1), field=PAYLOAD_FIELD)


def open_payload(sealed: bytes) -> bytes:
    return zlib.decompress(pii.decrypt_bytes(sealed, field=PAYLOAD_FIELD))


def _key(raw: object) -> str:
    if raw is not None and not isinstance(raw, str | int):
        raise DomainError("批次号 batch_key 应为文字", 400, errors={"batch_key": ["应为文字"]})
    key = str(raw if raw is not None else "").strip()
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise DomainError(
            "批次号含有不可见或无法识别的字符", 400, errors={"batch_key": ["含非法字符"]}
        )
    if not key:
        raise DomainError(
            "请提供批次号 batch_key（同一批次重复推送时用于去重）",
            400,
            errors={"batch_key": ["必填"]},
        )
    if len(key) > 100:
        raise DomainError("批次号不能超过100个字符", 400, errors={"batch_key": ["过长"]})
    return key


def _audit_push(department: Department, received: Received, size: int, request) -> None:
    """A department push is an audit event (等保: data received from other systems): which
    department's account, which batch, how large, from where. The batch key and file name
    are the department's own words: masked like any label."""
    batch = received.batch
    audit_record(
        actor=department.account,
        action=AuditAction.IMPORT,
        obj=batch,
        object_label=pii.mask_pii_in_text(str(batch)),
        request=request,
        detail={
            "source": "department_push",
            "department": department.pk,
            "file_name": pii.mask_pii_in_text(batch.file_name),
            "file_format": batch.file_format,
            "bytes": size,
            # The same list pushed again under its key: answered with the first batch.
            "repeat": not received.created,
        },
    )


def _store(
    department: Department,
    key: str,
    data: bytes,
    file_format: str,
    file_name: str,
    request=None,
) -> Received:
    digest = hashlib.sha256(data).hexdigest()
    existing = WarningBatch.objects.filter(department=department, batch_key=key).first()
    if existing is None:
        try:
            with transaction.atomic():
                batch = WarningBatch.objects.create(
                    department=department,
                    batch_key=key,
                    content_sha256=digest,
                    file_name=file_name[:200],
                    file_format=file_format,
                    payload=seal_payload(data),
                )
                received = Received(batch, True)
                _audit_push(department, received, len(data), request)
                transaction.on_commit(lambda: enqueue(batch.pk))
            return received
        except IntegrityError:
            # The same list sent twice at once: the other request stored it first.
            existing = WarningBatch.objects.get(department=department, batch_key=key)
    if existing.content_sha256 != digest:
        raise DomainError(f"批次号「{key}」已用于内容不同的另一份名单，请使用新的批次号", 422)
    received = Received(existing, False)
    _audit_push(department, received, len(data), request)
    return received


def receive_json(
    *, department: Department, batch_key: object, rows: object, request=None
) -> Received:
    key = _key(batch_key)
    try:
        check_json_rows(rows)
    except FeedFormatError as exc:
        raise DomainError(exc.reason, 400, errors={"rows": [exc.reason]}) from None
    # Canonical bytes, so a re-sent list with keys in another order is still the same list.
    try:
        data = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    except (UnicodeEncodeError, TypeError, ValueError):
        raise DomainError(
            "名单含有无法识别的字符或值", 400, errors={"rows": ["含无法识别的字符"]}
        ) from None
    return _store(department, key, data, "json", "", request)


def receive_file(
    *,
    department: Department,
    batch_key: object,
    data: bytes,
    file_name: str,
    max_bytes: int,
    request=None,
) -> Received:
    key = _key(batch_key)
    try:
        check_file(data, file_name, max_bytes)
    except FeedFormatError as exc:
        status = 413 if exc.code in ("too_large", "zip_bomb") else 400
        raise DomainError(exc.reason, status, errors={"file": [exc.reason]}) from None
    file_format = "xlsx" if data[:4] == b"PK\x03\x04" else "csv"
    return _store(department, key, data, file_format, file_name, request)


def enqueue(batch_id: int) -> bool:
    """Queue the matching. If the broker is down the batch stays stored as received and the
    periodic sweep queues it later: nothing is lost."""
    from monitor.tasks import process_warning_batch

    # Marked before the message leaves: a worker taking it at once must not find the row
    # locked by this mark, or it skips the batch as another worker's (SKIP LOCKED) and the
    # batch waits for the sweep. Not queued after all: the old mark is put back.
    batch = WarningBatch.objects.filter(pk=batch_id)
    previous = batch.values_list("enqueued_at", flat=True).first()
    batch.update(enqueued_at=timezone.now())
    try:
        process_warning_batch.delay(batch_id)
    except (KombuOperationalError, ConnectionError, OSError):
        batch.update(enqueued_at=previous)
        logger.warning(
            "warning batch %s stored but not queued (broker unavailable)", batch_id, exc_info=True
        )
        return False
    except Exception:
        # Only in-process (eager) runs get here: the batch stays received for the sweep,
        # and the request that stored it still succeeds.
        batch.update(enqueued_at=previous)
        logger.exception(
            "processing warning batch %s failed; it stays queued for the sweep", batch_id
        )
        return False
    return True


def sweep_waiting(older_than_seconds: int = 60) -> int:
    """Queue batches still waiting: their first enqueue failed, or a worker died mid-batch
    (the batch's work was one transaction, so it rolled back and the batch is waiting
    again). A batch being processed is locked and skipped by the worker, not done twice."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = (
        WarningBatch.objects.filter(status=BatchStatus.RECEIVED)
        .exclude(enqueued_at__gt=cutoff)
        .values_list("pk", flat=True)
    )
    return sum(enqueue(pk) for pk in list(waiting))
