"""Consent scans (承诺授权书) encrypted at rest.

A signed consent carries the household's names, signatures and often ID numbers: the file
under MEDIA_ROOT is kept as AES-256-GCM ciphertext under the personal-data key
(households.pii.encrypt_bytes, bound to the purpose "consent_scan", so a stored list or any
other sealed blob cannot stand in for a scan). The storage seals every file the field
saves — the service's upload, the demo's, anything else — and opens it again on read; the
only way out is the scoped page (monitor.pages.cases.consent_scan_page), which is also the
file's URL (media is never served).

Key rotation works as for numbers: the first PII_ENCRYPTION_KEYS key seals, any opens.
Scans stored before this (plain PDF/JPG/PNG) are sealed in place by migration
monitor 0013_consent_scans_encrypted, and by backup_restore for a backup taken before it.
"""

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.urls import reverse
from django.utils.deconstruct import deconstructible

from households import pii

SCAN_FIELD = "consent_scan"
# What a scan is when it was stored as uploaded (the upload check admits only these). A
# sealed file starts with pii's version byte and can never start like this.
PLAIN_SCAN_HEADS = (b"%PDF", b"\xff\xd8\xff", b"\x89PNG")
# pii.encrypt_bytes: version (1) + key id (4) + nonce (12) + tag (16) around the data.
SEAL_OVERHEAD = 1 + 4 + 12 + 16


def seal(data: bytes) -> bytes:
    return pii.encrypt_bytes(data, field=SCAN_FIELD)


def unseal(sealed: bytes) -> bytes:
    """Raises pii.PiiDecryptError for a file that is not a scan sealed under our keys."""
    return pii.decrypt_bytes(sealed, field=SCAN_FIELD)


@deconstructible(path="monitor.scans.EncryptedScanStorage")
class EncryptedScanStorage(FileSystemStorage):
    """FileSystemStorage (MEDIA_ROOT, followed when a test changes it) whose files are
    sealed on save and opened on read; no public URL."""

    def _save(self, name, content):
        content.seek(0)
        # Wrapped whole (scans are at most 10 MB): a large upload's temporary file would
        # otherwise be moved into place as it is, unsealed.
        return super()._save(name, ContentFile(seal(content.read())))

    def _open(self, name, mode="rb"):
        if mode not in ("r", "rb"):
            raise ValueError("承诺授权扫描件只能整体写入，不能就地修改")
        with super()._open(name, "rb") as stored:
            return ContentFile(unseal(stored.read()), name=name)

    def size(self, name):
        return max(super().size(name) - SEAL_OVERHEAD, 0)

    def url(self, name):
        """The scoped download page of the consent that holds this file (what the admin
        site links to): the file itself has no address."""
        from monitor.models import Consent

        found = Consent.objects.filter(scan=name).values_list("case_id", "pk").first()
        if found is None:
            raise ValueError("承诺授权扫描件没有公开地址")
        return reverse("consent-scan-page", args=found)


consent_scan_storage = EncryptedScanStorage()


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` so a crash leaves the old file or the new one, never half of either."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".sealing-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def seal_plain_scans(names: Iterable[str], media_root: Path) -> dict:
    """Seal in place every named scan still stored as uploaded. A sealed file is left alone
    (running twice seals nothing twice), and so is a file that is neither: it is reported,
    never sealed again on a guess. Missing files are reported too."""
    report = {"sealed": 0, "already": 0, "missing": [], "unknown": []}
    for name in sorted({name for name in names if name}):
        path = media_root / name
        if not path.is_file():
            report["missing"].append(name)
            continue
        data = path.read_bytes()
        if data.startswith(PLAIN_SCAN_HEADS):
            _write_atomically(path, seal(data))
            report["sealed"] += 1
        else:
            try:
                unseal(data)
            except pii.PiiDecryptError:
                report["unknown"].append(name)
            else:
                report["already"] += 1
    return report


def open_sealed_scans(names: Iterable[str], media_root: Path) -> int:
    """The way back (reversing the migration): each sealed scan written out as uploaded."""
    opened = 0
    for name in sorted({name for name in names if name}):
        path = media_root / name
        if not path.is_file():
            continue
        try:
            data = unseal(path.read_bytes())
        except pii.PiiDecryptError:
            continue
        _write_atomically(path, data)
        opened += 1
    return opened
