"""The second factor's secrets at rest and in the admin site (issue 11, known gaps): the
TOTP secret is stored sealed with the personal-data keys, devices enrolled before are sealed
by the migration, and the admin site removes devices but neither adds, changes nor shows
them."""

import importlib
from base64 import b32decode
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, User
from tests.accounts.test_second_factor import code_for, enrol, sign_in

pytestmark = pytest.mark.django_db


def raw_keys(user) -> list[str]:
    """The key column as the database holds it, read past every model."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE user_id = %s", [user.pk])
        return [row[0] for row in cursor.fetchall()]


def forms_of(secret_b32: str) -> set[str]:
    """The secret as base32 (the page), hex (django-otp's column) and raw bytes as text."""
    compact = secret_b32.replace(" ", "")
    binary = b32decode(compact + "=" * (-len(compact) % 8))
    return {compact, compact.lower(), binary.hex(), binary.hex().upper()}


def test_the_secret_is_not_in_the_table_and_a_real_code_still_signs_in(users, required, clock):
    secret = enrol(Client(), "approver")
    stored = raw_keys(users["approver"])
    assert len(stored) == 1
    assert not any(form in stored[0] for form in forms_of(secret))
    assert stored[0].startswith("enc:")
    # The next sign-in takes the code the app computes from the secret it was shown.
    clock.shift(60)
    client = Client()
    sign_in(client, "approver")
    right = client.post("/second-factor/", {"code": code_for(secret), "next": "/cases/"})
    assert right.status_code == 302 and right["Location"] == "/cases/"
    assert client.get("/cases/").status_code == 200


def test_a_device_saved_through_django_otp_s_own_model_is_sealed_too(users):
    device = TOTPDevice.objects.create(user=users["admin"], name="x", confirmed=True)
    plain = "3132333435363738393031323334353637383930"
    device.key = plain
    device.save()
    assert raw_keys(users["admin"]) == [device.key]
    assert plain not in device.key and device.key.startswith("enc:")


def test_a_sealed_secret_copied_to_another_person_does_not_open(users, required, clock):
    from accounts.device_secrets import DeviceSecretError, open_secret

    enrol(Client(), "approver")
    [sealed] = raw_keys(users["approver"])
    assert len(open_secret(sealed, users["approver"].pk)) == 20
    with pytest.raises(DeviceSecretError):
        open_secret(sealed, users["admin"].pk)


def test_the_migration_seals_devices_enrolled_before_it(users, clock):
    from accounts.models import SecondFactorDevice

    migration = importlib.import_module("accounts.migrations.0009_second_factor_secrets_sealed")
    device = TOTPDevice.objects.create(user=users["approver"], name="旧设备", confirmed=True)
    plain = "00112233445566778899aabbccddeeff00112233"
    # As the table was before: the secret in hex, written past the models.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE otp_totp_totpdevice SET key = %s WHERE id = %s", [plain, device.pk])
    assert raw_keys(users["approver"]) == [plain]
    editor = SimpleNamespace(connection=connection)
    migration.seal_existing(apps, editor)
    [stored] = raw_keys(users["approver"])
    assert plain not in stored and stored.startswith("enc:")
    migration.seal_existing(apps, editor)  # a second run leaves sealed rows alone
    assert raw_keys(users["approver"]) == [stored]
    # The app the person set up from the old secret still gives codes that are taken.
    sealed = SecondFactorDevice.objects.get(pk=device.pk)
    code = totp(bytes.fromhex(plain), step=30, t0=0, digits=6, drift=0)
    assert sealed.verify_token(f"{code:06d}")
    # And the way down gives django-otp's hex back.
    migration.unseal_existing(apps, editor)
    assert raw_keys(users["approver"]) == [plain]


# --- the admin site ----------------------------------------------------------------------


def _admin_client(users) -> Client:
    admin = users["admin"]
    User.objects.filter(pk=admin.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(User.objects.get(pk=admin.pk))
    return client


def test_the_admin_site_adds_no_device_for_anyone(users):
    client = _admin_client(users)
    approver = users["approver"]
    attempt = {
        "user": approver.pk,
        "name": "管理员的手机",
        "confirmed": "on",
        "key": "3132333435363738393031323334353637383930",
        "step": 30,
        "t0": 0,
        "digits": 6,
        "tolerance": 1,
        "drift": 0,
        "throttling_failure_count": 0,
    }
    for url in ("/admin/otp_totp/totpdevice/add/", "/admin/accounts/secondfactordevice/add/"):
        assert client.get(url).status_code in (403, 404), url
        assert client.post(url, attempt).status_code in (403, 404), url
    assert not TOTPDevice.objects.filter(user=approver).exists()
    index = client.get("/admin/").content.decode()
    assert "/admin/otp_totp/" not in index


def test_the_admin_site_shows_no_secret_changes_nothing_and_removes_a_device(users, clock):
    client = _admin_client(users)
    approver = users["approver"]
    enrol(Client(), "approver")
    device = TOTPDevice.objects.get(user=approver)
    [sealed] = raw_keys(approver)
    changelist = client.get("/admin/accounts/secondfactordevice/")
    assert changelist.status_code == 200 and "approver" in changelist.content.decode()
    page = client.get(f"/admin/accounts/secondfactordevice/{device.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert sealed not in text and 'name="key"' not in text and 'name="user"' not in text
    # The old address of django-otp's own admin, with its QR code, is gone.
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 404
    changed = client.post(
        f"/admin/accounts/secondfactordevice/{device.pk}/change/",
        {"user": users["admin"].pk, "name": "改", "confirmed": "on"},
    )
    assert changed.status_code == 403
    device.refresh_from_db()
    assert device.user_id == approver.pk and device.name != "改"
    # Removing it (a lost phone) is what the administrator can do, and it is audited.
    removed = client.post(
        f"/admin/accounts/secondfactordevice/{device.pk}/delete/", {"post": "yes"}
    )
    assert removed.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="delete", object_id=str(approver.pk))
    assert event.actor == users["admin"] and event.detail["second_factor"] == "removed"


def test_no_one_but_the_administrator_sees_the_devices(users):
    auditor = users["auditor"]
    User.objects.filter(pk=auditor.pk).update(is_staff=True)
    client = Client()
    client.force_login(User.objects.get(pk=auditor.pk))
    assert client.get("/admin/accounts/secondfactordevice/").status_code == 403
