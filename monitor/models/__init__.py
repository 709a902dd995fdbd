"""Models of the monitor app, split by sub-domain: cases (监测对象 and their records) and
feeds (department warning batches, their rows and the clues they raise)."""

from monitor.models.cases import (
    Appraisal,
    Case,
    CaseRisk,
    CaseTransition,
    Consent,
    Deadline,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)
from monitor.models.feeds import (
    Clue,
    Department,
    ScreeningThreshold,
    SelfApplication,
    WarningBatch,
    WarningRow,
)

__all__ = [
    "Appraisal",
    "Case",
    "CaseRisk",
    "CaseTransition",
    "Clue",
    "Consent",
    "Deadline",
    "Department",
    "HomeVisit",
    "MonthlyVisit",
    "Notification",
    "PublicNotice",
    "ScreeningThreshold",
    "SelfApplication",
    "WarningBatch",
    "WarningRow",
]
