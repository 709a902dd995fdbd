"""Consent scans (承诺授权书) at rest: what lies under MEDIA_ROOT is AES-GCM ciphertext bound to
its purpose, never the household's paper; staff who see the case download the original
through the scoped page, everyone else gets 404; scans stored before encryption are sealed in
place by the data migration, once."""

import importlib
from datetime import date
from pathlib import Path

import pytest
from django.apps import apps as live_apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from households import pii
from monitor import scans
from monitor.models import Consent
from monitor.services import consent_record
from tests.conftest import PDF

pytestmark = pytest.mark.django_db

# Enough of a PNG for the type check; the rest stands for the picture.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def _on_disk(consent: Consent) -> bytes:
    return (Path(settings.MEDIA_ROOT) / consent.scan.name).read_bytes()


def _page(client_user, consent: Consent):
    client = Client()
    client.force_login(client_user)
    return client.get(f"/cases/{consent.case_id}/consents/{consent.pk}/scan/")


@pytest.fixture
def consent(draft_case, users):
    return consent_record(
        case=draft_case,
        by=users["cadre_a"],
        signed_on=date(2026, 3, 3),
        scan=SimpleUploadedFile("授权书.png", PNG, content_type="image/png"),
    )


def test_the_bytes_on_disk_are_ciphertext_that_only_the_key_opens_to_the_upload(consent):
    stored = _on_disk(consent)
    assert stored != PNG and PNG[:8] not in stored and bytes(range(64)) not in stored
    # Not merely transformed: the installation's key opens it, bound to this purpose.
    assert pii.decrypt_bytes(stored, field=scans.SCAN_FIELD) == PNG
    with pytest.raises(pii.PiiDecryptError):
        pii.decrypt_bytes(stored, field="warning_batch")
    # Two uploads of the same paper are not the same bytes (a fresh nonce each time).
    again = consent_record(
        case=consent.case,
        by=consent.recorded_by,
        signed_on=date(2026, 3, 4),
        scan=SimpleUploadedFile("b.png", PNG),
    )
    assert _on_disk(again) != stored
    # The model reads it back whole, and sizes it as the original.
    with consent.scan.open("rb") as opened:
        assert opened.read() == PNG
    assert consent.scan.size == len(PNG)


def test_staff_of_the_case_download_the_original_and_another_county_gets_404(consent, users):
    response = _page(users["cadre_a"], consent)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert int(response["Content-Length"]) == len(PNG)
    for outsider in ("approver_other", "cadre_b"):
        assert _page(users[outsider], consent).status_code == 404, outsider


def test_a_scan_has_no_static_address_only_the_scoped_page(consent):
    # The admin site links a file by its storage's URL: that is the scoped page too.
    assert consent.scan.url == f"/cases/{consent.case_id}/consents/{consent.pk}/scan/"
    assert settings.MEDIA_URL not in consent.scan.url


def test_a_tampered_scan_is_refused_not_served(consent, users):
    path = Path(settings.MEDIA_ROOT) / consent.scan.name
    sealed = bytearray(path.read_bytes())
    sealed[-1] ^= 1
    path.write_bytes(bytes(sealed))
    response = _page(users["cadre_a"], consent)
    assert response.status_code == 404
    assert PNG[:8] not in response.content


def _plain_scan(case, by, day: date, data: bytes) -> Consent:
    """A consent as stored before scans were encrypted: the file written as uploaded."""
    consent = Consent(case=case, stage="identification", recorded_by=by, signed_on=day)
    consent.scan.name = f"consents/{case.pk}/{day:%Y%m%d}.pdf"
    path = Path(settings.MEDIA_ROOT) / consent.scan.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    consent.save()
    return consent


def test_the_data_migration_seals_scans_stored_in_plain_once_and_can_undo_it(
    draft_case, users, consent
):
    old = _plain_scan(draft_case, users["cadre_a"], date(2026, 3, 5), PDF)
    sealed_before = _on_disk(consent)
    migration = importlib.import_module("monitor.migrations.0013_consent_scans_encrypted")

    migration.seal_stored_scans(live_apps, None)
    assert _on_disk(old) != PDF
    assert pii.decrypt_bytes(_on_disk(old), field=scans.SCAN_FIELD) == PDF
    assert _on_disk(consent) == sealed_before  # already sealed: left alone
    once = _on_disk(old)
    migration.seal_stored_scans(live_apps, None)
    assert _on_disk(old) == once  # a second run does not seal twice
    response = _page(users["cadre_a"], old)
    assert b"".join(response.streaming_content) == PDF

    migration.open_stored_scans(live_apps, None)
    assert _on_disk(old) == PDF and _on_disk(consent) == PNG


def test_a_missing_scan_file_does_not_stop_the_migration(draft_case, users):
    gone = _plain_scan(draft_case, users["cadre_a"], date(2026, 3, 6), PDF)
    (Path(settings.MEDIA_ROOT) / gone.scan.name).unlink()
    kept = _plain_scan(draft_case, users["cadre_a"], date(2026, 3, 7), PDF)
    report = scans.seal_plain_scans(
        Consent.objects.values_list("scan", flat=True), Path(settings.MEDIA_ROOT)
    )
    assert report == {"sealed": 1, "already": 0, "missing": [gone.scan.name], "unknown": []}
    assert pii.decrypt_bytes(_on_disk(kept), field=scans.SCAN_FIELD) == PDF


def test_the_demo_history_writer_stores_its_scans_encrypted_too(draft_case, users):
    # Code that saves through the field (not the service) goes through the same storage.
    consent = Consent(
        case=draft_case,
        stage="identification",
        recorded_by=users["cadre_a"],
        signed_on=date(2026, 3, 8),
    )
    consent.scan.save("consent.pdf", ContentFile(PDF), save=True)
    assert _on_disk(consent) != PDF
    assert pii.decrypt_bytes(_on_disk(consent), field=scans.SCAN_FIELD) == PDF
