"""Periodic jobs (Celery beat). Each takes plain values, is safe to run twice (notifications
carry a unique key), and does set-based queries."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from monitor import deadlines


@shared_task(name="monitor.sweep_deadlines")
def sweep_deadlines(today: str | None = None) -> dict:
    day = date.fromisoformat(today) if today else timezone.localdate()
    return {
        "overdue": deadlines.mark_overdue(day),
        "no_measure": deadlines.flag_cases_without_measures(day),
    }


@shared_task(name="monitor.flag_missing_monthly_visits")
def flag_missing_monthly_visits(month: str | None = None) -> dict:
    """Default: the month before today (run early each month)."""
    if month:
        day = date.fromisoformat(month)
    else:
        day = timezone.localdate().replace(day=1) - timedelta(days=1)
    return deadlines.flag_missing_monthly_visits(day)
