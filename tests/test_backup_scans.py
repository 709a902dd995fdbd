"""Consent scans in backups: the restore's check decrypts every scan (a file that is there but
does not open is a problem, not a pass), and a backup taken before scans were encrypted is
restored with its scans sealed."""

import hashlib
import io
import json
import tarfile
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from households import backup, pii
from monitor import scans
from monitor.services import consent_record
from tests.conftest import PDF
from tests.test_backup_restore import _restore, _server_url, fresh_databases  # noqa: F401


def _manifest() -> dict:
    with connection.cursor() as cursor:
        return {"rows": backup._row_counts(cursor), "scans_missing": []}


@pytest.fixture
def consent(draft_case, users):
    return consent_record(
        case=draft_case,
        by=users["cadre_a"],
        signed_on=date(2026, 3, 3),
        scan=SimpleUploadedFile("scan.pdf", PDF),
    )


@pytest.mark.django_db
def test_the_check_decrypts_each_scan_and_reports_one_that_does_not_open(consent):
    verified = backup.verify(_manifest())
    assert (verified.scans, verified.problems) == (1, [])

    path = Path(settings.MEDIA_ROOT) / consent.scan.name
    sealed = bytearray(path.read_bytes())
    sealed[-1] ^= 1
    path.write_bytes(bytes(sealed))
    verified = backup.verify(_manifest())
    assert verified.scans == 0
    assert verified.problems == [f"承诺授权扫描件 1 个无法解密（如 {[consent.scan.name]}）"]

    # A scan left as uploaded is not a readable sealed scan either.
    path.write_bytes(PDF)
    assert backup.verify(_manifest()).problems != []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backup_from_before_encryption_is_restored_with_its_scans_sealed(
    consent,
    tmp_path,
    fresh_databases,  # noqa: F811
):
    folder = tmp_path / "backup"
    call_command("backup_export", str(folder))
    # Rewrite the backup as an older installation made it: the scan as uploaded.
    media = folder / backup.MEDIA
    with tarfile.open(media, "w") as archive:
        entry = tarfile.TarInfo(consent.scan.name)
        entry.size = len(PDF)
        archive.addfile(entry, io.BytesIO(PDF))
    manifest = json.loads((folder / backup.MANIFEST).read_text("utf-8"))
    manifest["files"][backup.MEDIA] = hashlib.sha256(media.read_bytes()).hexdigest()
    (folder / backup.MANIFEST).write_text(json.dumps(manifest), "utf-8")

    target = fresh_databases("old_scans")
    done = _restore(folder, _server_url(target), tmp_path / "restored")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "扫描件 1 个在位且可解密" in done.stdout
    restored = (tmp_path / "restored" / "media" / consent.scan.name).read_bytes()
    assert restored != PDF
    assert pii.decrypt_bytes(restored, field=scans.SCAN_FIELD) == PDF
