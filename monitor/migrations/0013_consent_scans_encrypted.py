"""Consent scans are sealed at rest (monitor/scans.py): the field saves through the
encrypting storage from now on, and the scans already stored as uploaded are sealed in place
here, when `manage.py migrate` runs. Sealing is idempotent (a sealed file is recognised and
left alone) and reversible (migrating back writes each scan out as uploaded)."""

import logging
from pathlib import Path

from django.conf import settings
from django.db import migrations, models

import monitor.models.cases
import monitor.scans

logger = logging.getLogger("monitor.scans")


def _names(apps):
    Consent = apps.get_model("monitor", "Consent")
    return Consent.objects.exclude(scan="").values_list("scan", flat=True).iterator()


def seal_stored_scans(apps, schema_editor):
    report = monitor.scans.seal_plain_scans(_names(apps), Path(settings.MEDIA_ROOT))
    if report["sealed"] or report["missing"] or report["unknown"]:
        # Names only (consents/<case id>/<date>.<type>): nothing personal. A missing or
        # unreadable file is the operator's to look into; the rest is news.
        trouble = report["missing"] or report["unknown"]
        logger.log(
            logging.WARNING if trouble else logging.INFO,
            "consent scans: %d sealed, %d already sealed, %d missing %s, %d unreadable %s",
            report["sealed"],
            report["already"],
            len(report["missing"]),
            report["missing"][:20],
            len(report["unknown"]),
            report["unknown"][:20],
        )


def open_stored_scans(apps, schema_editor):
    monitor.scans.open_sealed_scans(_names(apps), Path(settings.MEDIA_ROOT))


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0012_fact_parts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="consent",
            name="scan",
            field=models.FileField(
                storage=monitor.scans.EncryptedScanStorage(),
                upload_to=monitor.models.cases.consent_upload_path,
                verbose_name="签字扫描件",
            ),
        ),
        migrations.RunPython(seal_stored_scans, open_stored_scans, elidable=False),
    ]
