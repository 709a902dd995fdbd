"""Backup and restore of a PostgreSQL installation (manage.py backup_export / backup_restore).

A backup is a folder of three files:
- `database.dump`: pg_dump's custom format of the whole database, taken from one snapshot;
- `media.tar`: the signed consent scans the rows refer to, as stored: AES-GCM ciphertext
  under the personal-data key (monitor/scans.py; export files expire within a day and are
  not kept);
- `manifest.json`: when and from what it was taken, the SHA-256 of both files, the rows of
  every table counted in the same snapshot as the dump, and two key checks.

The personal-data keys are not in the backup. ID and phone numbers are in the dump only as
AES-GCM ciphertexts and keyed hashes; the keys stay in the environment (and the operator's
key store), kept apart from the backups. The manifest names the encrypting key by the same
4-byte fingerprint every ciphertext carries and the hash key by a keyed hash of a fixed
text: enough to refuse a restore under the wrong keys before anything is written, nothing to
recover a key from. Names, addresses and health are in the dump in plain text like in the
database: backups belong on protected storage.

A restore goes into an empty database (the one DATABASE_URL names), then reads every
protected value back: each number decrypts, each ID number's keyed hash is the one stored,
each stored list opens, each scan decrypts, and every table has the rows it had. Scans of a
backup taken before they were encrypted are sealed as they are restored."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.conninfo import make_conninfo

from accounts import device_secrets
from households import pii
from monitor import scans

FORMAT = "fanpin-backup-1"
DUMP, MEDIA, MANIFEST = "database.dump", "media.tar", "manifest.json"
HMAC_CHECK_TEXT = "fanpin-backup-key-check"
# The protected columns: (app label, model, ciphertext column, associated data, hash column).
PROTECTED = (
    ("households", "Member", "id_number_encrypted", "id_number", "id_number_hash"),
    ("households", "Member", "phone_encrypted", "phone", "phone_hash"),
    ("monitor", "SelfApplication", "id_number_encrypted", "id_number", "id_number_hash"),
    ("monitor", "SelfApplication", "phone_encrypted", "phone", "phone_hash"),
)
CHUNK = 5000


class BackupError(Exception):
    """Refused or failed, with the reason in Chinese for the operator."""


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise BackupError(
            "备份与恢复命令只用于 PostgreSQL；SQLite 演示库请直接复制 var/db.sqlite3 文件。"
        )


def _client_args() -> tuple[list[str], dict]:
    """pg_dump / pg_restore connection arguments for the configured database: a libpq
    connection string without the password, which goes in the environment."""
    s = connection.settings_dict
    params = {
        "dbname": s["NAME"],
        "user": s["USER"] or None,
        "host": s["HOST"] or None,
        "port": s["PORT"] or None,
        **s.get("OPTIONS", {}),
    }
    params = {key: value for key, value in params.items() if value not in (None, "")}
    env = {**os.environ}
    if s["PASSWORD"]:
        env["PGPASSWORD"] = s["PASSWORD"]
    return ["--dbname", make_conninfo(**params)], env


def _run(command: list[str], env: dict) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - PostgreSQL's own tools, fixed arguments
            command, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise BackupError(f"找不到 {command[0]}：请安装 PostgreSQL 客户端工具") from None
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} 失败：{done.stderr.strip()[-2000:]}")
    return done.stdout


def _tool(name: str) -> str:
    """pg_dump and pg_restore of the server's major version when several are installed
    (Debian keeps each under /usr/lib/postgresql/<version>/bin)."""
    major = connection.pg_version // 10000
    versioned = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    return str(versioned) if versioned.exists() else (shutil.which(name) or name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def key_checks() -> dict:
    return {
        "encrypting_key": pii._fingerprint(settings.PII_ENCRYPTION_KEYS[0]).hex(),
        "hmac_check": pii.lookup_hash(HMAC_CHECK_TEXT, field="backup_check"),
    }


def _tables() -> list[str]:
    """Every table of the installed models (auto-created many-to-many tables included)."""
    names = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            names.add(model._meta.db_table)
    return sorted(names)


def _row_counts(cursor) -> dict:
    counts = {}
    for table in _tables():
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        counts[table] = cursor.fetchone()[0]
    return counts


def _scans() -> list[str]:
    Consent = apps.get_model("monitor", "Consent")
    return sorted(name for name in Consent.objects.values_list("scan", flat=True) if name)


def export(folder: Path) -> dict:
    """Write a backup into `folder` (created; must not exist yet). Returns the manifest."""
    _require_postgresql()
    if folder.exists():
        raise BackupError(f"备份目录 {folder} 已存在：请指定新的目录")
    folder.mkdir(parents=True)
    args, env = _client_args()
    # One snapshot for the dump, the counts and the list of scans: the manifest describes
    # exactly the rows in the dump, however busy the database.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        options = ["--format=custom", f"--snapshot={snapshot}", "--no-owner", "--no-privileges"]
        _run([_tool("pg_dump"), *args, *options, "--file", str(folder / DUMP)], env)
        counts = _row_counts(cursor)
        scans = _scans()
    media_root = Path(settings.MEDIA_ROOT)
    missing = []
    with tarfile.open(folder / MEDIA, "w") as archive:
        for name in scans:
            path = media_root / name
            if path.is_file():
                archive.add(path, arcname=name, recursive=False)
            else:
                missing.append(name)
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "database": connection.settings_dict["NAME"],
        "server_version": connection.pg_version,
        "pg_dump": _run([_tool("pg_dump"), "--version"], env).strip(),
        "files": {DUMP: _sha256(folder / DUMP), MEDIA: _sha256(folder / MEDIA)},
        "rows": counts,
        "scans": len(scans) - len(missing),
        "scans_missing": missing,
        "keys": key_checks(),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return manifest


def read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} 中没有 {MANIFEST}：不是本系统的备份目录") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"不认识的备份格式：{manifest.get('format')!r}")
    for name, digest in manifest["files"].items():
        if not (folder / name).exists() or _sha256(folder / name) != digest:
            raise BackupError(f"备份文件 {name} 缺失或已损坏（SHA-256 不符）")
    return manifest


def check_keys(manifest: dict) -> None:
    """The environment holds the keys the backup was made with (compared by check values)."""
    fingerprints = {pii._fingerprint(key).hex() for key in settings.PII_ENCRYPTION_KEYS}
    problems = []
    if manifest["keys"]["encrypting_key"] not in fingerprints:
        problems.append("PII_ENCRYPTION_KEY 中没有备份时的加密密钥")
    if key_checks()["hmac_check"] != manifest["keys"]["hmac_check"]:
        problems.append("PII_HMAC_KEY 与备份时不同")
    if problems:
        raise BackupError(
            "环境中的个人信息密钥与备份不符（"
            + "；".join(problems)
            + "）。密钥不在备份中：请从密钥保管处取回备份时使用的密钥再恢复。未写入任何数据。"
        )


def _require_empty() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema')"
        )
        tables = cursor.fetchone()[0]
    if tables:
        raise BackupError(
            f"目标数据库 {connection.settings_dict['NAME']} 不是空库（已有 {tables} 张表）："
            "请恢复到新建的空数据库"
        )


@dataclass
class Verified:
    rows: dict = field(default_factory=dict)
    protected: dict = field(default_factory=dict)
    batches: int = 0
    scans: int = 0
    devices: int = 0
    problems: list = field(default_factory=list)


def verify(manifest: dict) -> Verified:
    """Read every protected value of the database back under the environment's keys."""
    result = Verified()
    with connection.cursor() as cursor:
        result.rows = _row_counts(cursor)
    for table, expected in manifest["rows"].items():
        if result.rows.get(table) != expected:
            result.problems.append(
                f"表 {table}：备份时 {expected} 行，现有 {result.rows.get(table)}"
            )
    for app_label, model_name, column, data, hash_column in PROTECTED:
        model = apps.get_model(app_label, model_name)
        rows = model.objects.exclude(**{column: ""}).order_by("pk")
        checked, failed, hashed = 0, [], pii.lookup_hasher(data)
        for pk, token, stored_hash in rows.values_list("pk", column, hash_column).iterator(
            chunk_size=CHUNK
        ):
            try:
                value = pii.decrypt(token, field=data)
            except pii.PiiDecryptError:
                failed.append(pk)
                continue
            # The value was stored normalised and hashed as stored. The hash column may be
            # empty on rows made before it was kept.
            if stored_hash and hashed(value) != stored_hash:
                failed.append(pk)
                continue
            checked += 1
        result.protected[f"{model._meta.db_table}.{data}"] = checked
        if failed:
            result.problems.append(
                f"{model._meta.verbose_name} {data}：{len(failed)} 个无法解密或与查询散列不符"
                f"（如 id {failed[:5]}）"
            )
    batch_model = apps.get_model("monitor", "WarningBatch")
    for pk, payload in (
        batch_model.objects.order_by("pk").values_list("pk", "payload").iterator(chunk_size=100)
    ):
        try:
            zlib.decompress(pii.decrypt_bytes(bytes(payload), field="warning_batch"))
        except (pii.PiiDecryptError, zlib.error):
            result.problems.append(f"部门名单批次 {pk} 的原始内容无法打开")
            continue
        result.batches += 1
    # The second factor's secrets are sealed with the same keys (accounts/device_secrets.py):
    # a restore whose keys do not open them would lock out every county approver.
    device_model = apps.get_model("otp_totp", "TOTPDevice")
    devices_failed = []
    for pk, key, user_id in device_model.objects.order_by("pk").values_list("pk", "key", "user_id"):
        try:
            # A secret still in plain hex is as much a problem as one that does not open.
            device_secrets.open_secret(key, user_id)
        except device_secrets.DeviceSecretError:
            devices_failed.append(pk)
            continue
        result.devices += 1
    if devices_failed:
        result.problems.append(
            f"动态口令设备 {len(devices_failed)} 个的密钥未加密或无法解密"
            f"（如 id {devices_failed[:5]}）"
        )
    media_root = Path(settings.MEDIA_ROOT)
    unreadable = []
    for name in _scans():
        path = media_root / name
        if not path.is_file():
            if name not in manifest.get("scans_missing", []):
                result.problems.append(f"承诺授权扫描件 {name} 缺失")
            continue
        # Each scan is opened as the download page opens it: decrypted and authenticated.
        try:
            scans.unseal(path.read_bytes())
        except pii.PiiDecryptError:
            unreadable.append(name)
            continue
        result.scans += 1
    if unreadable:
        result.problems.append(
            f"承诺授权扫描件 {len(unreadable)} 个无法解密（如 {unreadable[:5]}）"
        )
    return result


def restore(folder: Path) -> Verified:
    """Restore `folder` into the configured (empty) database and media folder, then verify."""
    _require_postgresql()
    manifest = read_manifest(folder)
    check_keys(manifest)
    _require_empty()
    args, env = _client_args()
    connection.close()  # pg_restore works in its own session; ours reopens afterwards
    options = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    _run([_tool("pg_restore"), *args, *options, str(folder / DUMP)], env)
    media_root = Path(settings.MEDIA_ROOT)
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / MEDIA) as archive:
        # The "data" filter refuses absolute paths, links out of the folder and devices.
        archive.extractall(media_root, filter="data")
    # A backup taken before scans were encrypted holds them as uploaded, and its dump
    # already records the migration that sealed them: seal them here instead.
    scans.seal_plain_scans(_scans(), media_root)
    return verify(manifest)


def describe(manifest: dict) -> str:
    created = datetime.fromisoformat(manifest["created_at"])
    rows = sum(manifest["rows"].values())
    return (
        f"备份于 {timezone.localtime(created):%Y-%m-%d %H:%M}，数据库 {manifest['database']}，"
        f"{len(manifest['rows'])} 张表 {rows} 行，承诺授权扫描件 {manifest['scans']} 个"
    )


def summary(verified: Verified) -> str:
    protected = "，".join(f"{name} {count} 个" for name, count in verified.protected.items())
    return (
        f"逐项核验：{protected}均可解密且查询散列一致；部门名单 {verified.batches} 批可打开；"
        f"扫描件 {verified.scans} 个在位且可解密；动态口令设备 {verified.devices} 个密钥可解密；"
        "各表行数与备份时一致"
    )
