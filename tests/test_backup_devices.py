"""The restore's check opens every second-factor secret with the environment's keys: a secret
that does not open (other keys) or was never sealed is a problem, not a pass — a restore
that cannot open them would lock every county approver out."""

import pytest
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SecondFactorDevice
from households import backup


def _manifest() -> dict:
    with connection.cursor() as cursor:
        return {"rows": backup._row_counts(cursor), "scans_missing": []}


@pytest.mark.django_db
def test_the_check_opens_each_device_secret_and_reports_one_that_does_not(users):
    device = SecondFactorDevice.objects.create(user=users["approver"], name="动态口令")
    verified = backup.verify(_manifest())
    assert (verified.devices, verified.problems) == (1, [])
    assert "动态口令设备 1 个密钥可解密" in backup.summary(verified)

    # A secret left in plain hex (written past the model that seals it).
    TOTPDevice.objects.filter(pk=device.pk).update(key="3132333435363738393031323334353637383930")
    verified = backup.verify(_manifest())
    assert verified.devices == 0
    assert verified.problems == [f"动态口令设备 1 个的密钥未加密或无法解密（如 id [{device.pk}]）"]
