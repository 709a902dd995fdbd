"""The steps of a warning clue, as services: the county's dispatch (下发), the township's
acceptance of a farmer's own application (受理) and the village's verification (核实反馈).
Each is one step of the clue workflow (monitor/feeds/clue_workflow.py) taken through the
shared engine, so each writes its audit row (ClueTransition); the village's feedback closes
the loop back to the source with an outcome."""

from datetime import date

from monitor.feeds.clue_workflow import CASE_CHANNEL, CLUES, suggested_risk_codes
from monitor.models import Clue

__all__ = [
    "CASE_CHANNEL",
    "clue_accept",
    "clue_dispatch",
    "clue_verify",
    "suggested_risk_codes",
]


def clue_verify(
    *,
    clue_id: int,
    by,
    outcome: str,
    note: str,
    category: str | None = None,
    risk_codes: list[str] | None = None,
    household=None,
    today: date | None = None,
    main_risk: str | None = None,
) -> Clue:
    """核实反馈. 纳入监测 files a draft case pre-filled from the evidence; 已是监测对象 links
    the household's open case; 不符合条件 and 无法核实 close the clue with the note."""
    return CLUES.take(
        obj_id=clue_id,
        action="verify",
        by=by,
        comment=note or "",
        today=today,
        outcome=outcome,
        category=category,
        risk_codes=risk_codes,
        household=household,
        main_risk=main_risk,
    )


def clue_accept(*, clue_id: int, by, note: str = "", today: date | None = None) -> Clue:
    """乡镇受理: a farmer's own application goes on to the village for the home check."""
    return CLUES.take(obj_id=clue_id, action="accept", by=by, comment=note, today=today)


def clue_dispatch(*, clue_id: int, by, note: str = "", today: date | None = None) -> Clue:
    """县级下发, one clue: a department or screening clue goes on to its village."""
    return CLUES.take(obj_id=clue_id, action="dispatch", by=by, comment=note, today=today)
