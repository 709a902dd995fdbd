"""Periodic jobs (Celery beat). Each takes plain values, is safe to run twice (notifications
carry a unique key), and does set-based queries."""

from datetime import date, timedelta

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from monitor import deadlines
from monitor.reports.tasks import export_run_task, exports_expire_task  # noqa: F401 - registered


@shared_task(name="monitor.sweep_deadlines")
def sweep_deadlines(today: str | None = None) -> dict:
    day = date.fromisoformat(today) if today else timezone.localdate()
    return {
        "overdue": deadlines.mark_overdue(day),
        "overdue_clues": deadlines.mark_overdue_clues(day),
        "no_measure": deadlines.flag_cases_without_measures(day),
    }


@shared_task(name="monitor.generate_monthly_reports")
def generate_monthly_reports(today: str | None = None) -> dict:
    """月报告: last month's report of every county, once (kept as generated)."""
    from monitor.reports.monthly import monthly_reports_generate

    day = date.fromisoformat(today) if today else timezone.localdate()
    return monthly_reports_generate(today=day)


@shared_task(name="monitor.rebuild_report_facts")
def rebuild_report_facts() -> int:
    """Nightly: every report fact rebuilt from its sources (the reports refresh the changed
    ones before each read; this catches anything a write path did not mark)."""
    from monitor.reports.facts import case_facts_refresh

    return case_facts_refresh(full=True)


@shared_task(name="monitor.flag_missing_monthly_visits")
def flag_missing_monthly_visits(month: str | None = None) -> dict:
    """Default: the month before today (run early each month)."""
    if month:
        day = date.fromisoformat(month)
    else:
        day = timezone.localdate().replace(day=1) - timedelta(days=1)
    return deadlines.flag_missing_monthly_visits(day)


@shared_task(name="monitor.flag_missing_follow_up_visits")
def flag_missing_follow_up_visits(quarter: str | None = None) -> dict:
    """消除后跟踪: a day of the quarter to look at (default: the quarter before today's; run
    daily, each flag is raised once per case and quarter)."""
    from monitor.follow_up import Quarter

    if quarter:
        day = date.fromisoformat(quarter)
    else:
        day = Quarter.of(timezone.localdate()).previous().first
    return deadlines.flag_missing_follow_up_visits(day)


@worker_process_init.connect
def _start_feed_helpers_in_pool_child(**kwargs) -> None:
    """A prefork child takes the batches: its normalising helpers start with it."""
    from monitor.feeds.parallel import start_helpers

    start_helpers()


@worker_ready.connect
def _start_feed_helpers_in_worker(sender=None, **kwargs) -> None:
    """Solo, threads and the like run the tasks in the worker's own process; a prefork
    worker's own process never does (its children start theirs)."""
    pool = getattr(sender, "pool", None)
    if pool is not None and not type(pool).__module__.endswith("prefork"):
        from monitor.feeds.parallel import start_helpers

        start_helpers()


@shared_task(
    name="monitor.process_warning_batch",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def process_warning_batch(batch_id: int) -> str:
    """Match one stored batch. Safe to run twice: a done batch is skipped, and a batch held by
    another worker is skipped by this one (row lock, SKIP LOCKED)."""
    from monitor.feeds.matching import process_batch

    return process_batch(batch_id)


@shared_task(name="monitor.screen_registry")
def screen_registry() -> int:
    """Monthly: run the screening rules over the whole registry."""
    from monitor.feeds.screening import screening_queue

    return screening_queue(scope_prefix="").pk


@shared_task(name="monitor.sweep_waiting_batches")
def sweep_waiting_batches() -> int:
    """Queue batches still marked received (broker was down, or a worker died mid-batch)."""
    from monitor.feeds.intake import sweep_waiting

    return sweep_waiting()
