"""Registry import (农户、家庭成员登记导入) from CSV or XLSX.

Every good row goes in, every bad row comes back with its row number, column and a Chinese
reason, and one bad row never sinks the file. Re-importing a file updates in place: households
are keyed by 户编号, members by the keyed hash of their ID number.

Two ways to the same result. On SQLite (the embedded demo) and for small files the rows are
checked and upserted in chunks with the ORM (orm.py: one bulk INSERT … ON CONFLICT DO UPDATE
per chunk, never a query per row). On PostgreSQL a file of BULK_MIN_BYTES or more goes the
set-based way (households.bulk_import): the rows are checked by the same functions
(rules.py), on every core for the management command, COPYed into a staging table, and the
checks that need the database or the whole file are a few statements. Both give the same
report — totals, created, updated, rejected and the same row errors — and store the same
values (tests/households/test_bulk_import.py). Two things differ where nobody reads them:
the set-based path leaves a stored row that the file would not change as it is (its 更新时间
stays, where the ORM path rewrites it), and keeps the ciphertext of an unchanged phone (the
ORM path writes a fresh one, which decrypts the same).

The rules both follow, row by row in file order:
- a row is checked on its own first (rules.py: `household_key`, `household_attributes`,
  `member_household_number`, `member_attributes`);
- a household number or ID number already accepted on an earlier row is a duplicate, and so
  is a second 户主 of one household in the file;
- a household or member already registered outside the importer's region is refused;
- a 户主 row is refused when the household's head stored before this import is someone else;
- a blank phone, address or safety cell keeps the stored value.
"""

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from accounts import policy
from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.scope import region_prefix_of
from households.importing.orm import _open, import_households, import_members
from households.importing.rules import (
    ALL_COLUMNS,
    COLUMN_LABEL,
    KIND_COLUMNS,
    KIND_REQUIRED,
    MAX_STORED_ERRORS,
    ImportReport,
    RowError,
    kind_of_columns,
    member_attributes,
)
from households.models import RegistryImport
from sheets.reading import TabularError, read_table

__all__ = [
    "COLUMN_LABEL",
    "MAX_STORED_ERRORS",
    "ImportReport",
    "RowError",
    "detect_kind",
    "member_attributes",
    "registry_import",
    "registry_import_file",
    "registry_import_upload",
]

# Below this size the ORM path is as quick as staging a file and simpler to follow; above it,
# on PostgreSQL, the set-based path (a 30 MB upload is some 350,000 members: over a minute
# through the ORM, seconds through COPY).
BULK_MIN_BYTES = 1024 * 1024
WEB_MAX_BYTES = 30 * 1024 * 1024
# manage.py import_registry takes a province's file (hundreds of MB); it is read in chunks from
# disk, never whole into memory, so the limit is only a guard against the wrong file.
COMMAND_MAX_BYTES = 8 * 1024 * 1024 * 1024
COMMAND_MAX_XLSX_UNCOMPRESSED = 4 * 1024 * 1024 * 1024


# Per kind: the columns and their spellings, the required ones, the ORM path's importer.
KIND_SPEC = {
    kind: (KIND_COLUMNS[kind], KIND_REQUIRED[kind], importer)
    for kind, importer in (
        (RegistryImport.Kind.HOUSEHOLDS, import_households),
        (RegistryImport.Kind.MEMBERS, import_members),
    )
}


def detect_kind(data: bytes, filename: str, max_bytes: int) -> str:
    table = read_table(data, filename=filename, aliases=ALL_COLUMNS, max_bytes=max_bytes)
    table.rows.close()  # only the header was needed
    return kind_of_columns(table.columns)


def registry_import(
    *,
    data: bytes,
    filename: str,
    by=None,
    scope_prefix: str | None,
    kind: str | None = None,
    max_bytes: int = WEB_MAX_BYTES,
    request=None,
) -> RegistryImport:
    """Import one file; raises TabularError when the file as a whole cannot be read.

    `scope_prefix=None` means the whole registry and is only for operators (`by=None`, the
    management command); a user always imports within a region."""
    if scope_prefix is None and by is not None:
        raise PermissionDenied("没有管辖范围的账号不能导入登记数据")
    started = timezone.now()
    record = _registry_import(
        data=data,
        filename=filename,
        by=by,
        scope_prefix=scope_prefix,
        kind=kind,
        max_bytes=max_bytes,
        request=request,
    )
    _report_facts_stale(record, started)
    return record


def _report_facts_stale(record: RegistryImport, started) -> None:
    """Members imported: the reports' people of their households are rebuilt at the next
    refresh (monitor.reports.facts), marked by the rows this import wrote."""
    if record.kind != RegistryImport.Kind.MEMBERS or not (
        record.rows_created + record.rows_updated
    ):
        return
    from monitor.reports.facts import case_facts_mark_members_since

    case_facts_mark_members_since(started)


def _registry_import(
    *, data, filename, by, scope_prefix, kind, max_bytes, request
) -> RegistryImport:
    if _bulk_wanted(len(data)):
        from households.bulk_import import Source

        return _import_bulk(
            Source(data, filename),
            by=by,
            scope_prefix=scope_prefix,
            kind=kind,
            max_bytes=max_bytes,
            max_xlsx_uncompressed=None,
            request=request,
            use_workers=False,
        )
    kind = kind or detect_kind(data, filename, max_bytes)
    columns, required, importer = KIND_SPEC[kind]
    table = _open(data, filename, columns, required, max_bytes)
    with transaction.atomic():
        report = importer(table, scope_prefix=scope_prefix)
        return _record(report, filename, hashlib.sha256(data).hexdigest(), by, request)


def registry_import_file(
    *,
    path: Path,
    kind: str | None = None,
    max_bytes: int = COMMAND_MAX_BYTES,
    method: str = "auto",
) -> RegistryImport:
    """An operator's import of a file on disk (manage.py import_registry), over the whole
    registry. On PostgreSQL the file is mapped and read in chunks on every core, so a
    province's list of hundreds of MB never sits whole in memory; elsewhere it is read as an
    upload would be. `method` ("auto", "bulk" or "orm") is for benchmarks and tests."""
    started = timezone.now()
    record = _registry_import_file(path=path, kind=kind, max_bytes=max_bytes, method=method)
    _report_facts_stale(record, started)
    return record


def _registry_import_file(*, path: Path, kind, max_bytes: int, method: str) -> RegistryImport:
    if method == "bulk" or (method == "auto" and _bulk_wanted(path.stat().st_size)):
        from households.bulk_import import Source

        with Source.from_path(path) as source:
            return _import_bulk(
                source,
                by=None,
                scope_prefix=None,
                kind=kind,
                max_bytes=max_bytes,
                max_xlsx_uncompressed=COMMAND_MAX_XLSX_UNCOMPRESSED,
                request=None,
                use_workers=True,
            )
    data = path.read_bytes()
    kind = kind or detect_kind(data, path.name, max_bytes)
    columns, required, importer = KIND_SPEC[kind]
    table = read_table(
        data,
        filename=path.name,
        aliases=columns,
        required=required,
        max_bytes=max_bytes,
        max_xlsx_uncompressed=COMMAND_MAX_XLSX_UNCOMPRESSED,
    )
    with transaction.atomic():
        report = importer(table, scope_prefix=None)
        return _record(report, path.name, hashlib.sha256(data).hexdigest(), None, None)


def _bulk_wanted(size: int) -> bool:
    return connection.vendor == "postgresql" and size >= BULK_MIN_BYTES


def _import_bulk(
    source, *, by, scope_prefix, kind, max_bytes, max_xlsx_uncompressed, request, use_workers
) -> RegistryImport:
    from households.bulk_import import bulk_import

    with transaction.atomic():
        report = bulk_import(
            source,
            kind=kind,
            scope_prefix=scope_prefix,
            today=timezone.localdate(),
            max_bytes=max_bytes,
            max_xlsx_uncompressed=max_xlsx_uncompressed,
            use_workers=use_workers,
        )
        return _record(report, source.name, source.sha256(), by, request)


def _record(report: ImportReport, filename: str, sha256: str, by, request) -> RegistryImport:
    record = RegistryImport.objects.create(
        kind=report.kind,
        file_name=filename[:200],
        file_sha256=sha256,
        imported_by=by if by is not None and by.is_authenticated else None,
        rows_total=report.rows_total,
        rows_created=report.created,
        rows_updated=report.updated,
        rows_rejected=report.rejected,
        errors=report.errors,
    )
    audit_record(
        actor=by,
        action=AuditAction.IMPORT,
        obj=record,
        request=request,
        detail={
            "created": report.created,
            "updated": report.updated,
            "rejected": report.rejected,
        },
    )
    return record


def _size_label(size: int) -> str:
    """30 MB, 1.5 MB, 512 KB: the limit as people read it."""
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.2f}".rstrip("0").rstrip(".") + " MB"


def registry_import_upload(*, by, upload, kind: str | None = None, request=None) -> RegistryImport:
    """One person's upload, from the API or the import page: the policy's `registry.import`,
    the size limit `settings.REGISTRY_IMPORT_MAX_BYTES` (checked before the file is read) and
    the user's own region as the scope. `upload` is an uploaded file (size, name, read()).

    Raises TabularError when the file as a whole cannot be used (code 'too_large' over the
    limit), PolicyDenied or PermissionDenied when the user may not import."""
    policy.require(by, "registry.import")
    limit = settings.REGISTRY_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise TabularError("too_large", f"文件超过 {_size_label(limit)} 的上限，请分批导入")
    return registry_import(
        data=upload.read(),
        filename=upload.name or "upload",
        by=by,
        scope_prefix=region_prefix_of(by),
        kind=kind,
        max_bytes=limit,
        request=request,
    )
