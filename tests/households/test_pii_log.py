"""The log filter masks ID- and phone-shaped runs only (issue 11, item 11): an operator must
still read Celery's timings, task ids, counts and timestamps."""

import logging

import pytest

from households.pii import MaskPiiLogFilter, mask_pii_in_log


@pytest.mark.parametrize(
    "line",
    [
        # Celery's own lines: a 15-digit fractional part, a task id with digit runs.
        "Task monitor.process_warning_batch[3f2a9c1e-8d4b-4e2f-9a7c-a13912345678] "
        "succeeded in 1.012345678901234s: 'done'",
        "Task monitor.screen_registry[0c1d2e3f-4a5b-6c7d-8e9f-013912345678] "
        "succeeded in 0.630121198710020016s: 42",
        # Timestamps: compact, epoch seconds, milliseconds and microseconds.
        "run 202611301234567 stamped 20261130123456 at 1764400000 (1764400000123, "
        "1764400000123456)",
        # Counts, amounts and sizes.
        "list staged by 2 helpers in 14 chunks; 1000000 rows, 103456789 bytes, 13912345678.50 元",
        # 18 digits whose "birth date" cannot exist (month 13, year 1812) and 17 or 19 digits.
        "hashes 630121199913020016 630121181210020016 63012119871002001 6301211987100200161",
    ],
)
def test_numbers_that_are_not_personal_are_left_alone(line):
    assert mask_pii_in_log(line) == line


@pytest.mark.parametrize(
    "line, masked",
    [
        ("matched 630121198710020016.", "matched 630121********0016."),
        ("身份证63012119781009646X核对", "身份证630121********646X核对"),
        ("legacy id=630121871002001;", "legacy id=***********2001;"),
        ("电话13912345678，", "电话139****5678，"),
        ("phone +86 139-1234-5678 or 15600004775", "phone 139****5678 or 156****4775"),
        ("tel 139 1234 5678", "tel 139****5678"),
        ("座机 0971-8123456 或 01087654321", "座机 097****3456 或 010****4321"),
        ("全角６３０１２１１９８７１００２００１６", "全角630121********0016"),
        ("q=13912345678&page=2", "q=139****5678&page=2"),
    ],
)
def test_id_and_phone_shaped_runs_are_masked(line, masked):
    assert mask_pii_in_log(line) == masked


def test_the_filter_masks_the_message_and_a_logged_traceback(caplog):
    logger = logging.getLogger("tests.pii_log")
    logger.addFilter(MaskPiiLogFilter())
    with caplog.at_level(logging.INFO, logger="tests.pii_log"):
        logger.info("task succeeded in %ss, %d rows", "1.012345678901234", 202611301234567)
        try:
            int("630121198710020016 13912345678 x")
        except ValueError:
            logger.exception("row %s refused", "630121198710020016")
    timing, failure = caplog.records
    assert timing.getMessage() == "task succeeded in 1.012345678901234s, 202611301234567 rows"
    assert failure.getMessage() == "row 630121********0016 refused"
    text = logging.Formatter().format(failure)
    assert "ValueError" in text and "630121********0016 139****5678" in text
    assert "630121198710020016" not in text and "13912345678" not in text
