"""A service down — Redis (the cache and the Celery broker) or the PostgreSQL connection —
answered clearly, and the system kept working where it safely can.

- The general API rate limits (`anon`, `user`) guard against a runaway client. While the
  cache is unreachable they let requests through (and log it): otherwise every API call,
  department lists and case steps included, would fail with Redis although nothing they
  write lives there.
- Every other use of the cache is a security limit — the sign-in lockout, reveals of full
  numbers, the public application form and its lookup, exports of full numbers, screening
  runs. Those fail closed: `server_error` (handler500) answers 503 with a Chinese message
  (JSON under /api/, a page elsewhere) instead of a server error.
- A request caught by a PostgreSQL restart gets the same 503; the next one reconnects
  (CONN_HEALTH_CHECKS checks a kept connection before each request).
- On SQLite (the demo) a writer waits for the database's one write lock (config/env.py);
  one still held when the wait runs out is a 503 "busy" with a short Retry-After, never a
  500 — the API answers it in its exception handler (config/exceptions.py), so in debug
  mode too.

Queued work is not lost with Redis: department lists are stored as received before they are
queued and the periodic sweep queues them again (monitor/feeds/intake.py); an export whose
job could not be queued fails at once with that reason (monitor/reports/exports.py).
"""

import logging
import sys

from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import throttling

logger = logging.getLogger(__name__)

CACHE_DOWN = (RedisConnectionError, RedisTimeoutError)
QUEUE_OR_CACHE_DOWN = "服务暂时不可用：缓存或任务队列连接中断，请稍后重试。"
DATABASE_DOWN = "服务暂时不可用：数据库连接中断，请稍后重试。"
DATABASE_BUSY = "服务繁忙：数据库正在处理其他人的操作，请稍后重试。"
RETRY_AFTER_SECONDS = 30
# The lock is held for one transaction, well under a second: a retry soon will find it free.
BUSY_RETRY_AFTER_SECONDS = 5
# SQLSTATE classes of a lost server, not of a refused statement: 08 connection exception,
# 57P01-57P03 the server shutting down, crashed or still starting.
_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03")


class _OpenWhileCacheDown:
    """A general rate limit that cannot count lets the request through, and says so in the
    log (the scoped security limits are not given this: they fail closed)."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CACHE_DOWN:
            logger.warning("rate limit %r not applied: the cache is unreachable", self.scope)
            return True


class AnonRateThrottle(_OpenWhileCacheDown, throttling.AnonRateThrottle):
    """DRF's per-address limit, let through while the cache is down."""


class UserRateThrottle(_OpenWhileCacheDown, throttling.UserRateThrottle):
    """DRF's per-user limit, let through while the cache is down."""


def _database_connection_lost(exc: Exception) -> bool:
    """A PostgreSQL connection that is gone (server restarting, network), as opposed to a
    statement the server refused (a lock timeout or a serialization failure is a conflict;
    SQLite's "database is locked" is `database_busy`)."""
    if not isinstance(exc, DatabaseOperationalError | InterfaceError):
        return False
    cause = exc.__cause__
    if type(cause).__module__.split(".")[0] != "psycopg":
        return False
    state = getattr(cause, "sqlstate", None)
    return state is None or state.startswith(_CONNECTION_LOST)


def database_busy(exc: BaseException) -> bool:
    """SQLite's lock still held by another connection when this one's wait ran out. Only the
    message tells it apart from other SQLite errors (both are sqlite3.OperationalError)."""
    if not isinstance(exc, DatabaseOperationalError):
        return False
    cause = exc.__cause__
    return type(cause).__module__ == "sqlite3" and "locked" in str(cause)


def server_error(request):
    """handler500: an error that escaped every view and middleware. A lost Redis or database
    connection is no fault of the request: 503 and the reason in Chinese (JSON under /api/);
    anything else is Django's own 500 page. Being the last handler, it also answers what a
    middleware raised (the session read at the end of a request while PostgreSQL restarts)."""
    exception = sys.exc_info()[1]
    if isinstance(exception, (*CACHE_DOWN, BrokerUnavailable)):
        message = QUEUE_OR_CACHE_DOWN
    elif _database_connection_lost(exception):
        message = DATABASE_DOWN
    elif database_busy(exception):
        return outage_response(request, DATABASE_BUSY, retry_after=BUSY_RETRY_AFTER_SECONDS)
    else:
        return defaults.server_error(request)
    return outage_response(request, message)


def outage_response(request, message: str, retry_after: int = RETRY_AFTER_SECONDS) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": message}, status=503, json_dumps_params={"ensure_ascii": False}
        )
    else:
        # No request context: the page must render with the database gone too.
        response = HttpResponse(render_to_string("503.html", {"message": message}), status=503)
    response["Retry-After"] = str(retry_after)
    return response


def bad_request(request, exception):
    """handler400: Django's, except that a session that could not be saved because
    PostgreSQL went away, or SQLite stayed locked, is the 503 above. Django turns any failed
    session save into SessionInterrupted, a 400 "Bad Request" page that would tell the
    person their request was wrong."""
    if isinstance(exception, SessionInterrupted):
        cause = exception.__context__
        while cause is not None:
            if _database_connection_lost(cause):
                return outage_response(request, DATABASE_DOWN)
            if database_busy(cause):
                return outage_response(request, DATABASE_BUSY, retry_after=BUSY_RETRY_AFTER_SECONDS)
            cause = cause.__context__
    return defaults.bad_request(request, exception)
