"""Celery tasks of the reports: the export job and the periodic expiry of export files.
Imported by monitor/tasks.py so the worker registers them."""

from celery import shared_task


@shared_task(name="monitor.export_run")
def export_run_task(job_id: str) -> str:
    """Build one export. Safe to run twice: a job already taken or finished is left alone
    (monitor.reports.exports.export_run)."""
    from monitor.reports.exports import export_run

    return export_run(job_id)


@shared_task(name="monitor.exports_expire")
def exports_expire_task() -> dict:
    """Periodic: remove export files past their expiry; fail jobs that never finished."""
    from monitor.reports.exports import exports_expire

    return exports_expire()
