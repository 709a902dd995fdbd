"""JSON lists: a cell of the wrong JSON type, or far too long, is that row's error — named by
row and column in Chinese on the receipt — and never a stored name like "{'a': 1}". The
other rows of the list are received as usual."""

import json
from decimal import Decimal

import pytest

from monitor.choices import RowOutcome
from monitor.feeds.rows import COLUMNS, staged_rows
from monitor.models import WarningBatch, WarningRow
from tests.monitor.test_feed_rows import TODAY
from tests.monitor.test_feeds import _member_ids, medical, registry  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

FIELDS = {
    "name": "姓名",
    "id_number": "身份证号",
    "indicator": "预警类型",
    "amount": "金额",
    "occurred_on": "发生日期",
    "detail": "说明",
}
# The JSON value → the word the receipt uses for what came instead of text.
WRONG_TYPES = {
    "object": ({"a": 1}, "对象"),
    "list": (["x"], "数组"),
    "number": (630121198710020016, "数字"),
    "float": (1.5, "数字"),
    "true": (True, "true/false"),
}
LONG = "长" * 5000


def _good(person: str) -> dict:
    return {
        "name": "张三",
        "id_number": person,
        "indicator": "高额医疗自付",
        "amount": "1200.50",
        "occurred_on": "2026-10-01",
        "detail": "住院",
    }


def _cases():
    """(field, label of the case, value, expected): expected is ("invalid", words the reason
    must hold besides the row number), ("invalid-id", words of the ID checker's own reason)
    or ("taken", columns of the stored row)."""
    for field in FIELDS:
        for kind, (value, word) in WRONG_TYPES.items():
            if field == "amount" and kind in ("number", "float"):
                continue  # an amount may be a JSON number (below)
            yield field, kind, value, ("invalid", [FIELDS[field], "应为文字", word])
    yield "amount", "number", 1200, ("taken", {"amount": "1200"})
    yield "amount", "float", 300.5, ("taken", {"amount": "300.5"})
    # null is an empty cell, as in a spreadsheet: required columns then fail as empty.
    yield "name", "null", None, ("taken", {"name": "", "reason": "姓名为空"})
    yield "id_number", "null", None, ("invalid-id", ["身份证号"])
    yield "indicator", "null", None, ("taken", {"indicator": ""})
    yield "amount", "null", None, ("taken", {"amount": None})
    yield "occurred_on", "null", None, ("taken", {"occurred_on": None})
    yield "detail", "null", None, ("taken", {"detail": ""})
    # Far too long: a name or an indicator cut short would be a different one.
    yield "name", "long", LONG, ("invalid", ["姓名", "超过 50 个字"])
    yield "id_number", "long", LONG, ("invalid-id", ["身份证"])
    yield "indicator", "long", LONG, ("invalid", ["预警类型", "超过 100 个字"])
    yield "amount", "long", LONG, ("taken", {"amount": None, "reason": "金额"})
    yield "occurred_on", "long", LONG, ("taken", {"occurred_on": None, "reason": "发生日期"})
    yield "detail", "long", LONG, ("taken", {"detail": "长" * 500, "reason": "说明超过 500"})


CASES = list(_cases())


def test_each_wrong_cell_is_its_rows_error_and_every_other_row_is_received(
    registry,  # noqa: F811
    medical,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    _, client = medical
    people = _member_ids(len(CASES) + 1)
    rows = [_good(people[0])]
    for (field, _, value, _), person in zip(CASES, people[1:], strict=True):
        rows.append(_good(person) | {field: value})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/feeds/batches/", {"batch_key": "types", "rows": rows}, format="json"
        )
    assert response.status_code == 202, response.content
    batch = WarningBatch.objects.get(pk=response.json()["id"])
    assert batch.status == "done" and batch.rows_total == len(rows)
    stored = {row.row_number: row for row in WarningRow.objects.filter(batch=batch)}
    assert stored[1].outcome in (RowOutcome.NEW_CLUE, RowOutcome.MERGED)
    invalid = 0
    for number, (field, kind, _, (verdict, expected)) in enumerate(CASES, start=2):
        row = stored[number]
        where = f"row {number}: {field} given {kind}"
        # Nothing of the wrong value is kept as if it were text.
        assert "{" not in row.name and "[" not in row.name, where
        if verdict.startswith("invalid"):
            invalid += 1
            assert row.outcome == RowOutcome.INVALID, where
            if verdict == "invalid":
                assert row.reason.startswith(f"第{number}行"), (where, row.reason)
            for word in expected:
                assert word in row.reason, (where, row.reason)
            assert row.id_number_masked == "" and row.household_id is None, where
        else:
            assert row.outcome != RowOutcome.INVALID, (where, row.reason)
            for column, value in expected.items():
                if column == "reason":
                    assert value in row.reason, (where, row.reason)
                elif column == "amount":
                    assert row.amount == (None if value is None else Decimal(value)), where
                else:
                    assert getattr(row, column) == value, where
    assert batch.rows_invalid == invalid
    # The receipt shows the reasons to the department, row by row.
    receipt = client.get(
        f"/api/feeds/batches/{batch.pk}/rows/", {"outcome": "invalid", "page_size": 100}
    ).json()
    assert receipt["count"] == invalid
    named = [r for r in receipt["results"] if "应为文字" in r["reason"]]
    assert len(named) == sum(1 for case in CASES if "应为文字" in case[3][1])
    assert all(r["reason"].startswith(f"第{r['row_number']}行") for r in named)


@pytest.mark.parametrize("item", [["甲", "630121198710020016"], "甲", 7, None, True])
def test_a_row_that_is_not_an_object_is_that_rows_error(item):
    good = _good("630121198710020016")
    data = json.dumps([good, item], ensure_ascii=False).encode()
    staged = list(staged_rows(data, "json", "", len(data) + 1, TODAY))
    assert [row[0] for row in staged] == [1, 2]
    assert staged[0][8] == RowOutcome.PENDING
    assert staged[1][8] == RowOutcome.INVALID and staged[1][9].startswith("第2行应为对象")


def test_several_wrong_cells_of_one_row_are_all_named():
    row = _good("630121198710020016") | {"姓名": {"a": 1}, "身份证号": 630121198710020016}
    del row["name"], row["id_number"]
    data = json.dumps([row], ensure_ascii=False).encode()
    (staged,) = staged_rows(data, "json", "", len(data) + 1, TODAY)
    assert staged[8] == RowOutcome.INVALID
    assert "「姓名」应为文字" in staged[9] and "「身份证号」应为文字" in staged[9]
    # The ID number is not kept in any form, not even masked.
    assert staged[2] == staged[3] == "" and "630121198710020016" not in staged[9]


def test_the_column_names_the_reasons_use_are_the_lists_own_headers():
    assert {field: COLUMNS[field][0] for field in FIELDS} == FIELDS
