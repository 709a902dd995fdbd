"""数据筛查 on demand: one run at a time over a region (409 naming the run in the way) and so
many an hour per region (429), through the API and the batch pages alike (issue 11, item 10)."""

import pytest
from django.test import Client

from monitor.feeds.matching import process_batch
from monitor.feeds.screening import screening_queue
from monitor.models import WarningBatch
from tests.conftest import COUNTY, TOWNSHIP_1

pytestmark = pytest.mark.django_db

# Without a worker (no on-commit queueing in a test transaction) a run stays queued.


def _run(api, name):
    return api(name).post("/api/screening-runs/")


def test_a_second_run_over_the_same_region_is_409_naming_the_one_queued(users, api):
    first = _run(api, "approver")
    assert first.status_code == 202, first.content
    queued = WarningBatch.objects.get(pk=first.json()["id"])

    again = _run(api, "approver")
    assert again.status_code == 409
    body = again.json()
    assert body["running"] == queued.pk
    assert body["detail"].startswith(f"大通回族土族自治县的数据筛查（第 {queued.pk} 号，")
    assert "正在排队或运行" in body["detail"]
    # A township inside the county waits too, and may read the run it waits for; the county
    # next door does not wait.
    township = _run(api, "reviewer_1")
    assert township.status_code == 409 and township.json()["running"] == queued.pk
    assert api("reviewer_1").get(f"/api/screening-runs/{queued.pk}/").status_code == 200
    assert _run(api, "approver_other").status_code == 202
    assert WarningBatch.objects.filter(source="screening").count() == 2

    # Once it is done, the county may run again.
    assert process_batch(queued.pk) == "done"
    assert _run(api, "approver").status_code == 202


def test_runs_overlapping_either_way_wait_for_each_other(users, api):
    township = screening_queue(scope_prefix=TOWNSHIP_1[:9])
    county = _run(api, "approver")
    assert county.status_code == 409 and county.json()["running"] == township.pk
    assert "桥头镇的数据筛查" in county.json()["detail"]
    process_batch(township.pk)
    # The monthly run over the whole registry holds every region.
    everything = screening_queue(scope_prefix="")
    for name in ("approver", "reviewer_2", "approver_other"):
        refused = _run(api, name)
        assert refused.status_code == 409 and refused.json()["running"] == everything.pk
        assert "全部辖区（每月例行筛查）的数据筛查" in refused.json()["detail"]


def test_a_region_queues_only_so_many_runs_an_hour(users, api, settings):
    settings.MONITOR = {**settings.MONITOR, "SCREENING_RUNS_PER_HOUR": 2}
    for _ in range(2):
        response = _run(api, "approver")
        assert response.status_code == 202
        process_batch(response.json()["id"])
    third = _run(api, "approver")
    assert third.status_code == 429
    assert third.json()["detail"] == "本辖区一小时内最多运行 2 次数据筛查，已达上限，请稍后再试。"
    # Counted per region: the township's own runs and the county next door are not spent.
    assert _run(api, "reviewer_1").status_code == 202
    assert _run(api, "approver_other").status_code == 202
    assert WarningBatch.objects.filter(source="screening", scope_prefix=COUNTY[:6]).count() == 2


def test_the_batch_page_shows_the_refusal_and_queues_nothing(users, api):
    running = _run(api, "approver").json()["id"]
    page = Client()
    page.force_login(users["approver"])
    response = page.post("/batches/screening/", follow=True)
    text = response.content.decode()
    assert f"第 {running} 号" in text and "正在排队或运行" in text
    assert WarningBatch.objects.filter(source="screening").count() == 1


def test_the_schema_documents_the_conflict_and_the_limit_with_their_bodies(api):
    schema = api("approver").get("/api/schema/", {"format": "json"}).json()
    responses = schema["paths"]["/api/screening-runs/"]["post"]["responses"]
    assert {"202", "401", "403", "409", "429"} <= set(responses)
    conflict = responses["409"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(schema["components"]["schemas"][conflict]["properties"]) == {"detail", "running"}
    limited = responses["429"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "detail" in schema["components"]["schemas"][limited]["properties"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_queue_one_run_and_the_other_gets_409(users, monkeypatch):
    import threading
    import time

    from django.db import connection
    from rest_framework.test import APIClient

    from monitor.feeds import screening

    # Left queued (no worker, no broker message that another test's worker could take).
    monkeypatch.setattr(screening, "enqueue", lambda batch_id: False)
    looked = screening.active_overlapping_run

    def slow_look(prefix):
        # Hold on after looking: without the lock both requests would find no run here and
        # both would queue one.
        found = looked(prefix)
        time.sleep(0.5)
        return found

    monkeypatch.setattr(screening, "active_overlapping_run", slow_look)
    start = threading.Barrier(2)
    results = {}

    def run(name):
        client = APIClient()
        client.force_authenticate(users[name])
        start.wait()
        try:
            results[name] = client.post("/api/screening-runs/").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("approver", "reviewer_1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == [202, 409], results
    assert WarningBatch.objects.filter(source="screening").count() == 1
