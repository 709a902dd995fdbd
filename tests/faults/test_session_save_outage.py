"""A session that cannot be saved because PostgreSQL went away is a 503 with the reason, not
Django's 400 "Bad Request" page (found by test_postgres_restart under load)."""

import psycopg
import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import OperationalError
from django.test import RequestFactory

from config.outage import bad_request


def _interrupted(error: Exception) -> SessionInterrupted:
    """What SessionMiddleware raises when the save fails: SessionInterrupted, in the
    handling of UpdateError, in the handling of the database's error."""
    try:
        try:
            try:
                raise error
            except Exception:
                raise UpdateError from None
        except UpdateError:
            raise SessionInterrupted("会话保存失败") from None
    except SessionInterrupted as exc:
        return exc


def _lost_connection() -> OperationalError:
    error = OperationalError("server closed the connection unexpectedly")
    error.__cause__ = psycopg.OperationalError("server closed the connection unexpectedly")
    return error


@pytest.mark.parametrize("path", ["/cases/", "/api/cases/"])
def test_a_session_lost_with_the_database_is_a_503(path):
    response = bad_request(RequestFactory().get(path), _interrupted(_lost_connection()))
    assert response.status_code == 503
    assert response["Retry-After"]


def test_any_other_bad_request_stays_djangos_400():
    response = bad_request(RequestFactory().get("/cases/"), _interrupted(ValueError("other")))
    assert response.status_code == 400
