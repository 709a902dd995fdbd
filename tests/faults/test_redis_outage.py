"""Redis stopped while department lists and case steps arrive, and started again.

Redis is both the cache and the Celery broker; everything the system keeps is in
PostgreSQL. So during the outage: lists are stored as received (202), case steps are taken,
pages are served; what needs the cache for a security limit (sign-in lockout, reveals)
answers 503 with a Chinese reason; nothing is a 500. When Redis is back the worker
reconnects by itself and beat's sweep queues the waiting lists: each is matched once.

Our own Redis and gunicorn and a real worker; the test database on PostgreSQL."""

import json
from datetime import date

import pytest
from celery import Celery
from django.conf import settings

from households.models import Household, Member
from households.pii import decrypt
from monitor.choices import Category, Channel, Status
from monitor.models import Case, CaseTransition, Clue, WarningBatch, WarningRow
from monitor.services import case_create
from tests.conftest import VILLAGE_A, sample_path
from tests.faults.conftest import education_rows, session_of, shared_database_url
from tests.faults.services import (
    AppServer,
    RedisServer,
    app_env,
    request,
    start_worker,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BOUNDARY = "fault-test-boundary"
REVEAL = {"field": "id_number", "reason": "入户核实"}


def _push_json(server, key, batch_key, rows):
    body = json.dumps({"batch_key": batch_key, "rows": rows}, ensure_ascii=False).encode()
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    return request("POST", f"{server.url}/api/feeds/batches/", body=body, headers=headers)


def _push_file(server, key, batch_key, path):
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="batch_key"\r\n\r\n'
            f'{batch_key}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + path.read_bytes()
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    headers = {
        "Authorization": f"Token {key}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    return request("POST", f"{server.url}/api/feeds/batches/", body=body, headers=headers)


def _json_post(server, path, session, payload):
    headers = {**session, "Content-Type": "application/json"}
    return request("POST", server.url + path, body=json.dumps(payload).encode(), headers=headers)


def _sign_in(server, username, password):
    secret = "s" * 32
    body = f"csrfmiddlewaretoken={secret}&username={username}&password={password}".encode()
    headers = {
        "Cookie": f"csrftoken={secret}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return request("POST", f"{server.url}/login/", body=body, headers=headers)


def _done(batch_id):
    return WarningBatch.objects.get(pk=batch_id).status != "received"


def _receipted_once(batch_id, rows):
    batch = WarningBatch.objects.get(pk=batch_id)
    counted = (
        batch.rows_new_clue
        + batch.rows_merged
        + batch.rows_attached
        + batch.rows_not_found
        + batch.rows_invalid
        + batch.rows_duplicate
    )
    numbers = list(WarningRow.objects.filter(batch=batch).values_list("row_number", flat=True))
    return (batch.status, batch.rows_total, counted, len(numbers), len(set(numbers))) == (
        "done",
        rows,
        rows,
        rows,
        rows,
    )


@pytest.fixture
def reported_cases(registry, users):
    """Two cases of 东关村 waiting for the township."""
    cases = []
    for household in Household.objects.filter(village_id=VILLAGE_A).order_by("number")[:2]:
        case = case_create(
            household=household,
            category=Category.SUDDEN,
            channel=Channel.CADRE_SCREENING,
            risk_codes=["01"],
            found_on=date.today(),
            by=users["cadre_a"],
        )
        cases.append(case.pk)
    Case.objects.filter(pk__in=cases).update(status=Status.REPORTED)
    return cases


def test_lists_and_steps_while_redis_is_down_are_kept_and_done_when_it_returns(
    tmp_path, queue, civil_key, reported_cases, users
):
    redis = RedisServer(tmp_path)
    redis.start()
    env = app_env(tmp_path, database_url=shared_database_url(), redis_url=redis.url(), queue=queue)
    server = AppServer(tmp_path, env)
    worker = start_worker(tmp_path, env)
    reviewer, cadre = session_of(users["reviewer_1"]), session_of(users["cadre_a"])
    member = Member.objects.filter(household__village_id=VILLAGE_A).order_by("pk").first()
    rows = education_rows()
    try:
        # Calm: the worker is connected and takes a list.
        status, _, body = _push_json(server, civil_key, "calm", rows[:5])
        assert status == 202, body
        calm = json.loads(body)["id"]
        wait_until(lambda: _done(calm), timeout=60, what="calm list not done", log=worker.log)

        redis.stop()
        answers = []
        status, _, body = _push_file(
            server, civil_key, "outage-file", sample_path("warnings_civil_affairs_gbk.csv")
        )
        answers.append(("file list", status, body))
        status, _, body = _push_json(server, civil_key, "outage-json", rows[5:])
        answers.append(("json list", status, body))
        # The department's client retries: the same list under the same key is the same batch.
        status, _, body = _push_json(server, civil_key, "outage-json", rows[5:])
        answers.append(("json list again", status, body))
        for case_id in reported_cases:
            status, _, body = _json_post(
                server,
                f"/api/cases/{case_id}/transitions/",
                reviewer,
                {"action": "township_approve", "comment": "同意"},
            )
            answers.append(("township_approve", status, body))
        status, _, body = request("GET", f"{server.url}/households/", headers=cadre)
        answers.append(("household page", status, body))
        status, headers, body = _json_post(
            server, f"/api/members/{member.pk}/reveal/", cadre, REVEAL
        )
        answers.append(("reveal", status, body))
        reveal_body, reveal_type = body, headers.get("Content-Type", "")
        status, _, body = _sign_in(server, "cadre_a", "wrong-password")
        answers.append(("sign-in", status, body))
        login_body = body.decode()

        assert [(what, status) for what, status, _ in answers] == [
            ("file list", 202),
            ("json list", 202),
            ("json list again", 200),
            ("township_approve", 200),
            ("township_approve", 200),
            ("household page", 200),
            ("reveal", 503),
            ("sign-in", 503),
        ], [(what, status, body[:300]) for what, status, body in answers]
        file_batch, json_batch, json_again = (json.loads(body) for _, _, body in answers[:3])
        assert json_again["id"] == json_batch["id"]
        # Stored before anything else, waiting for the queue.
        assert (file_batch["status"], json_batch["status"]) == ("received", "received")
        assert (
            WarningBatch.objects.filter(
                pk__in=[file_batch["id"], json_batch["id"]], status="received"
            ).count()
            == 2
        )
        assert set(Case.objects.filter(pk__in=reported_cases).values_list("status", flat=True)) == {
            Status.TOWNSHIP_APPROVED
        }
        assert (
            CaseTransition.objects.filter(
                case_id__in=reported_cases, action="township_approve"
            ).count()
            == 2
        )
        # A security limit that cannot count refuses, and says why.
        assert reveal_type.startswith("application/json")
        assert json.loads(reveal_body)["detail"].startswith("服务暂时不可用")
        assert "服务暂时不可用" in login_body

        redis.start()
        # What beat does every minute: the sweep, by the name in the schedule.
        sweep = settings.CELERY_BEAT_SCHEDULE["sweep-waiting-batches"]["task"]
        with Celery(broker=redis.url(), set_as_current=False) as client:
            client.send_task(sweep, queue=queue)
        for batch_id in (file_batch["id"], json_batch["id"]):
            wait_until(
                lambda batch_id=batch_id: _done(batch_id),
                timeout=120,
                what=f"batch {batch_id} not done after Redis returned",
                log=worker.log,
            )
        status, _, body = _json_post(server, f"/api/members/{member.pk}/reveal/", cadre, REVEAL)
        assert status == 200, body
        assert json.loads(body)["value"] == decrypt(member.id_number_encrypted, field="id_number")
    finally:
        stop(worker)
        server.stop()
        redis.stop()

    assert _receipted_once(calm, 5)
    assert _receipted_once(file_batch["id"], 60)
    assert _receipted_once(json_batch["id"], len(rows) - 5)
    assert WarningRow.objects.count() == 5 + 60 + len(rows) - 5
    # One clue per household however many lists and rows named it.
    households = Clue.objects.values_list("household_id", flat=True)
    assert len(households) == len(set(households)) > 0
    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert "Internal Server Error" not in log
