"""manage.py backup_export / backup_restore: a backup of the test database restored into a
fresh database reads back whole — every ID and phone number decrypts to what it was, every
table has its rows, the department list opens and the consent scan decrypts — and only under
the same keys, which the backup does not hold."""

import base64
import json
import shutil
import subprocess
import sys
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.choices import Role
from accounts.models import User
from households import pii
from households.importing import registry_import
from households.models import Household, Member
from monitor import scans
from monitor.choices import Category, Channel
from monitor.feeds import intake
from monitor.feeds.applications import self_application_submit
from monitor.models import Department, SelfApplication
from monitor.models.feeds import DepartmentKind
from monitor.services import case_create, consent_record
from tests.conftest import COUNTY, PDF, REPO, VILLAGE_A, sample_path
from tests.factories import make_id_number
from tests.faults.services import app_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _server_url(name: str) -> str:
    s = connection.settings_dict
    return (
        f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{name}"
    )


@pytest.fixture
def fresh_databases():
    """Empty databases beside the test database, dropped afterwards."""
    made = []
    admin = _server_url("postgres")

    def make(suffix: str) -> str:
        name = f"{connection.settings_dict['NAME']}_{suffix}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return name

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def installation(regions, users, eager_celery):
    """The samples' registry, a case of one of its households with the signed consent, a
    farmer's own application and a department's list: every kind of protected data."""
    for name in ("registry_households.csv", "registry_members.csv"):
        registry_import(data=sample_path(name).read_bytes(), filename=name, scope_prefix=None)
    today = timezone.localdate()
    case = case_create(
        household=Household.objects.filter(village_id=VILLAGE_A).order_by("number").first(),
        category=Category.SUDDEN,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=today - timedelta(days=3),
        by=users["cadre_a"],
    )
    consent = consent_record(
        case=case,
        by=users["cadre_a"],
        signed_on=today - timedelta(days=1),
        scan=SimpleUploadedFile("scan.pdf", PDF),
    )
    self_application_submit(
        name="赵申请",
        phone="13912345678",
        id_number=make_id_number(sequence=820),
        difficulty="家中有人住院",
        village=VILLAGE_A,
        risk_type="01",
    )
    account = User.objects.create_user(username="yibao", password="x", role=Role.DEPARTMENT)
    department = Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    rows = json.loads(sample_path("warnings_education.json").read_text("utf-8"))
    batch = intake.receive_json(department=department, batch_key="b-1", rows=rows).batch
    batch.refresh_from_db()
    assert batch.status == "done"
    return consent


def _people(cursor_rows) -> dict:
    """{pk: (ID number, phone)} decrypted under this run's keys."""
    return {
        pk: (
            pii.decrypt(id_token, field="id_number"),
            pii.decrypt(phone, field="phone") if phone else "",
        )
        for pk, id_token, phone in cursor_rows
    }


def _table_counts(url: str) -> dict:
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        return {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
            for table in tables
        }


def _restore(folder, database_url, tmp_path, **keys) -> subprocess.CompletedProcess:
    env = app_env(tmp_path, database_url=database_url, redis_url="", queue="celery", **keys)
    return subprocess.run(
        [sys.executable, "manage.py", "backup_restore", str(folder)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_backup_restores_into_a_fresh_database_and_every_record_reads_back(
    installation, tmp_path, fresh_databases, capsys
):
    folder = tmp_path / "backup"
    call_command("backup_export", str(folder))
    assert sorted(p.name for p in folder.iterdir()) == [
        "database.dump",
        "manifest.json",
        "media.tar",
    ]

    people = _people(
        Member.objects.order_by("pk").values_list("pk", "id_number_encrypted", "phone_encrypted")
    )
    applicants = _people(
        SelfApplication.objects.values_list("pk", "id_number_encrypted", "phone_encrypted")
    )
    assert len(people) == 1081 and len(applicants) == 1
    assert sum(1 for _, phone in people.values() if phone) == 300  # the sample's heads

    # The keys are not in the backup, and no number is in it in plain text.
    listing = subprocess.run(
        [
            shutil.which("pg_restore") or "/usr/bin/pg_restore",
            "--file",
            "-",
            str(folder / "database.dump"),
        ],
        capture_output=True,
        check=True,
    ).stdout
    contents = (
        listing + (folder / "manifest.json").read_bytes() + (folder / "media.tar").read_bytes()
    )
    secrets = [base64.urlsafe_b64encode(key) for key in settings.PII_ENCRYPTION_KEYS]
    secrets += [
        base64.urlsafe_b64encode(settings.PII_HMAC_KEY),
        settings.PII_HMAC_KEY.hex().encode(),
    ]
    secrets += [key.hex().encode() for key in settings.PII_ENCRYPTION_KEYS]
    assert [secret for secret in secrets if secret in contents] == []
    numbers = {
        value for pair in [*people.values(), *applicants.values()] for value in pair if value
    }
    assert [number for number in numbers if number.encode() in listing] == []
    assert b"households_member" in listing  # the listing is the dump's SQL, not an empty file

    restored = fresh_databases("restored")
    done = _restore(folder, _server_url(restored), tmp_path / "restored")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "已恢复" in done.stdout and "均可解密" in done.stdout

    # Read back here, not on the command's word: every table, every number, the scan.
    assert _table_counts(_server_url(restored)) == _table_counts(
        _server_url(connection.settings_dict["NAME"])
    )
    with psycopg.connect(_server_url(restored)) as conn:
        restored_people = _people(
            conn.execute(
                "SELECT id, id_number_encrypted, phone_encrypted FROM households_member"
            ).fetchall()
        )
        restored_applicants = _people(
            conn.execute(
                "SELECT id, id_number_encrypted, phone_encrypted FROM monitor_selfapplication"
            ).fetchall()
        )
        (scan,) = conn.execute("SELECT scan FROM monitor_consent").fetchone()
    assert restored_people == people
    assert restored_applicants == applicants
    # The scan travels as stored, sealed: the backup never holds the paper in the clear.
    restored_scan = (tmp_path / "restored" / "media" / scan).read_bytes()
    assert PDF not in restored_scan and PDF not in (folder / "media.tar").read_bytes()
    assert scans.unseal(restored_scan) == PDF == installation.scan.read()

    # Restoring twice into the same database is refused: it is no longer empty.
    again = _restore(folder, _server_url(restored), tmp_path / "again")
    assert again.returncode != 0 and "不是空库" in again.stderr


def test_a_restore_under_other_keys_is_refused_before_anything_is_written(
    installation, tmp_path, fresh_databases
):
    folder = tmp_path / "backup"
    call_command("backup_export", str(folder))
    target = fresh_databases("wrong_keys")
    other = base64.urlsafe_b64encode(b"K" * 32).decode()
    done = _restore(folder, _server_url(target), tmp_path / "wrong", PII_ENCRYPTION_KEY=other)
    assert done.returncode != 0
    assert "PII_ENCRYPTION_KEY 中没有备份时的加密密钥" in done.stderr
    assert "未写入任何数据" in done.stderr
    assert _table_counts(_server_url(target)) == {}
    done = _restore(folder, _server_url(target), tmp_path / "wrong", PII_HMAC_KEY=other)
    assert done.returncode != 0 and "PII_HMAC_KEY 与备份时不同" in done.stderr
    assert _table_counts(_server_url(target)) == {}


def test_a_damaged_backup_is_refused(installation, tmp_path, fresh_databases):
    folder = tmp_path / "backup"
    call_command("backup_export", str(folder))
    dump = folder / "database.dump"
    dump.write_bytes(dump.read_bytes()[:-100])
    target = fresh_databases("damaged")
    done = _restore(folder, _server_url(target), tmp_path / "damaged")
    assert done.returncode != 0 and "已损坏" in done.stderr
    assert _table_counts(_server_url(target)) == {}
