"""Large CSV lists are normalised on every core (monitor/feeds/parallel.py): the helpers stage
exactly the rows one process stages, and anything unusual goes back to one process."""

import csv
import io
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import date

import pytest
from django.db import connection

from accounts.choices import Role
from accounts.models import ApiToken, User
from config import celery_app
from config.localrun import post_file
from households.idnumber import check_character
from households.importing import registry_import
from monitor.feeds import helper, matching, parallel
from monitor.feeds.rows import RowNormaliser, file_rows
from monitor.models import Clue, Department, DispatchRound, WarningBatch, WarningRow
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, sample_path
from tests.factories import make_id_number, random_id_number
from tests.monitor.test_feeds import _department, _member_ids, _push_file

TODAY = date(2026, 11, 25)
HEADER = "姓名,身份证号,预警类型,金额,发生日期,说明\n"


@pytest.fixture(autouse=True)
def helpers():
    yield
    parallel.stop_helpers()


def _messy_list(rows: int, seed: int = 3) -> str:
    """A title row above the header, and every mess the reader knows: quoted cells that span
    lines, doubled quotes, blank and comma-only rows, short rows, bad check digits, Excel's
    numbers, odd amounts and dates, numbers in free text; no line end after the last row."""
    rng = random.Random(seed)
    lines = ["某县医疗保障局 2026年10月 高额医疗自付名单\n", HEADER]
    for n in range(rows):
        number = random_id_number(rng)
        kind = n % 13
        if kind == 1:
            number = number.lower()
        elif kind == 2:
            number = number[:17] + ("0" if number[17] != "0" else "1")
        elif kind == 3:
            number = "6.30121E+17"
        elif kind == 4:
            number = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        amount = ['"1,234.50元"', "8000", "￥12", "abc", ""][n % 5]
        day = ["2026-10-01", "2026年9月3日", "2026/10/2", "明天", ""][n % 4]
        detail = ["", '"住院\n两次，电话 13912345678"', '"他说""很难"""', "备注"][n % 4]
        name = ["张三", "阿依古丽・买买提", " 李 四 ", ""][n % 4]
        if kind == 5:
            lines.append("\n")
        if kind == 6:
            lines.append(",,,,,\n")
        if kind == 7:
            lines.append(f"{name},{number}\n")
            continue
        lines.append(f"{name},{number},高额医疗自付,{amount},{day},{detail}\n")
    return "".join(lines).rstrip("\n")


def _one_process(text: str) -> list[list[str]]:
    data = text.encode("utf-8")
    normalise = RowNormaliser(TODAY)
    out = io.StringIO()
    writer = csv.writer(out, **helper.COPY_DIALECT)
    writer.writerows(normalise(*cells) for cells in file_rows(data, "l.csv", len(data) + 1))
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def _every_core(text: str, chunk_chars: int) -> list[list[str]]:
    layout = parallel.plan(text, chunk_chars=chunk_chars)
    assert len(layout.chunks) > 5
    staged = b"".join(parallel.staged_chunks(layout, text, TODAY)).decode("utf-8")
    return list(csv.reader(io.StringIO(staged, newline="")))


def test_the_helpers_stage_exactly_the_rows_one_process_stages():
    text = _messy_list(400)
    expected = _one_process(text)
    assert len(expected) > 300 and any("\n" in row[7] for row in expected)
    assert _every_core(text, chunk_chars=900) == expected


def test_rows_after_records_that_span_lines_keep_the_numbers_one_process_gives():
    # Every row's detail spans two lines, so each chunk starts later than its line suggests.
    people = [make_id_number(sequence=n) for n in range(300)]
    text = HEADER + "".join(f'张三,{p},受灾,,,"第一行\n第二行"\n' for p in people)
    numbers = [int(row[0]) for row in _every_core(text, chunk_chars=700)]
    assert numbers == list(range(2, 302))


def test_a_cut_inside_a_quoted_cell_sends_the_list_back_to_one_process():
    text = HEADER + "".join(f'张三,{make_id_number()},受灾,,,"a\nb"\n' for _ in range(40))
    layout = parallel.plan(text, chunk_chars=300)
    inside = text.index("\nb", layout.chunks[0].end) + 1  # just after the "a" line
    chunks = [
        parallel.Chunk(len(layout.head), inside, text.count("\n", len(layout.head), inside)),
        parallel.Chunk(inside, len(text), text.count("\n", inside)),
    ]
    with pytest.raises(parallel.Fallback):
        b"".join(parallel.staged_chunks(parallel.Plan(layout.head, 1, chunks), text, TODAY))
    # The helpers answered everything they were sent: the next list is read correctly.
    clean = _messy_list(100, seed=9)
    assert _every_core(clean, chunk_chars=600) == _one_process(clean)


def test_a_list_given_up_half_way_leaves_no_answer_behind_for_the_next():
    text = _messy_list(300)
    chunks = parallel.staged_chunks(parallel.plan(text, chunk_chars=500), text, TODAY)
    next(chunks)
    started = time.monotonic()
    chunks.close()  # as when the COPY into the stage fails
    assert time.monotonic() - started < 3
    assert _every_core(text, chunk_chars=700) == _one_process(text)


def test_a_helper_that_dies_sends_the_list_back_and_the_next_list_gets_new_helpers():
    text = _messy_list(300)
    chunks = parallel.staged_chunks(parallel.plan(text, chunk_chars=400), text, TODAY)
    next(chunks)
    parallel._helpers.members[0].process.kill()
    with pytest.raises(parallel.Fallback, match="helper gone"):
        list(chunks)
    assert _every_core(text, chunk_chars=700) == _one_process(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (HEADER + "张三,630121198710020016\r" * 50, "carriage returns"),
        ("\n".join(["标题"] * 80) + "\n" + HEADER + "张三,630121198710020016\n" * 50, "head"),
        (HEADER + "张三,630121198710020016\n" * 3, "one chunk"),
    ],
)
def test_lists_one_process_reads_better_are_left_to_it(text, reason):
    with pytest.raises(parallel.Fallback, match=reason):
        parallel.plan(text, chunk_chars=200)


def test_a_daemonic_process_such_as_a_celery_prefork_child_can_start_the_helpers(monkeypatch):
    # multiprocessing refuses children to a daemonic process; the helpers are plain
    # subprocesses, so a prefork child normalises on every core too.
    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)
    text = _messy_list(60, seed=5)
    assert _every_core(text, chunk_chars=400) == _one_process(text)


def test_a_helper_ends_when_its_input_closes():
    process = parallel._Helper().process
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def test_a_helper_hashes_with_the_key_it_is_sent(settings):
    first17 = "63012119871002001"
    number = first17 + check_character(first17)
    text = HEADER + f"张三,{number},受灾,,,\n" * 60
    settings.PII_HMAC_KEY = b"k" * 32
    expected = _one_process(text)
    assert _every_core(text, chunk_chars=300) == expected


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("eager_celery")
def test_a_list_read_on_every_core_gives_the_receipt_and_clues_one_process_gives(
    regions, monkeypatch, django_capture_on_commit_callbacks
):
    for name in ("registry_households.csv", "registry_members.csv"):
        registry_import(data=sample_path(name).read_bytes(), filename=name, scope_prefix=None)
    _, client = _department("县医保局", DepartmentKind.MEDICAL_INSURANCE, "yibao")
    members = _member_ids(40)
    text = _messy_list(300)
    # Registered people among the rows, some twice (duplicates), some under two indicators.
    lines = text.split("\n")
    for n, number in enumerate(members * 2):
        lines.insert(5 + n * 3, f"成员{n},{number},{'受灾' if n % 3 else '高额医疗自付'},1,,")
    data = "\n".join(lines).encode("gb18030")
    used = []
    real = matching._stage_in_parallel
    monkeypatch.setattr(
        matching, "_stage_in_parallel", lambda *a: used.append(real(*a)) or used[-1]
    )

    def run(key, every_core):
        monkeypatch.setattr(parallel, "MIN_BYTES", 0 if every_core else 10**12)
        monkeypatch.setattr(parallel, "CHUNK_CHARS", 500)
        with django_capture_on_commit_callbacks(execute=True):
            response = _push_file(client, data, key, name="名单.csv")
        batch = WarningBatch.objects.get(pk=response.json()["id"])
        assert batch.status == "done", batch.error
        rows = list(
            WarningRow.objects.filter(batch=batch)
            .order_by("row_number")
            .values_list(
                "row_number", "name", "id_number_hash", "id_number_masked", "indicator",
                "amount", "occurred_on", "detail", "outcome", "reason", "household_id",
            )
        )  # fmt: skip
        clues = sorted(Clue.objects.values_list("household_id", "status", "due_on", "village_id"))
        counts = [getattr(batch, field) for field in matching.COUNT_FIELDS.values()]
        Clue.objects.all().delete()
        DispatchRound.objects.all().delete()
        WarningBatch.objects.all().delete()
        return rows, clues, counts

    one = run("one", every_core=False)
    every = run("every", every_core=True)
    assert used == [True]
    assert every == one
    outcomes = {row[8] for row in one[0]}
    assert {"new_clue", "duplicate", "not_found", "invalid"} <= outcomes
    assert len(one[0]) > 350 and len(one[1]) > 5


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_child_reads_a_large_list_on_every_core(live_server, regions, tmp_path):
    """The deployment's worker (prefork pool, docker-compose.yml): its child starts helpers."""
    if parallel.helper_count() < 2:
        pytest.skip("one core: a large list is read in one process")
    for name in ("registry_households.csv", "registry_members.csv"):
        registry_import(data=sample_path(name).read_bytes(), filename=name, scope_prefix=None)
    account = User.objects.create_user(username="yibao", password="x", role=Role.DEPARTMENT)
    Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    token = ApiToken.issue(user=account, name="推送")[1]
    rng = random.Random(11)
    members = _member_ids(30)
    rows = [f"人员{n},{members[n % 30] if n % 700 == 0 else random_id_number(rng)},受灾,,,\n"
            for n in range(25_000)]  # fmt: skip
    data = (HEADER + "".join(rows)).encode("utf-8")
    assert len(data) > parallel.MIN_BYTES
    queue = f"test-parallel-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    log = tmp_path / "worker.log"
    s = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}",
    }
    with log.open("w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
             "--concurrency", "1", "-Q", queue, "-l", "info", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=parallel.REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            status, body = post_file(
                f"{live_server.url}/api/feeds/batches/", token, {"batch_key": "big"}, "l.csv", data
            )
            assert status == 202
            batch_id = json.loads(body)["id"]
            deadline = time.monotonic() + 120
            while WarningBatch.objects.get(pk=batch_id).status == "received":
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            celery_app.conf.task_default_queue = previous
            worker.terminate()
            worker.wait(timeout=60)
    batch = WarningBatch.objects.get(pk=batch_id)
    assert (batch.status, batch.rows_total) == ("done", 25_000), batch.error
    assert batch.rows_new_clue + batch.rows_duplicate > 0
    assert f"list staged by {parallel.helper_count()} helpers" in log.read_text()
    assert "list read in one process" not in log.read_text()
