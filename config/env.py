"""Reading settings from the environment.

Every reader fails loudly (ImproperlyConfigured naming the variable) on a malformed value:
a typo in a deployment should stop the process at start, not surface as odd behaviour later.
"""

import os
from datetime import date
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value.strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_dates(name: str) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(item) for item in env_list(name, []))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be YYYY-MM-DD dates, comma-separated") from None


SQLITE_TIMEOUT_SECONDS = 20


def sqlite_options(timeout: float = SQLITE_TIMEOUT_SECONDS) -> dict:
    """OPTIONS of every SQLite database, the default file and a sqlite:/// URL alike.

    SQLite holds one writer at a time. `timeout` makes a connection wait that long for the
    lock instead of failing at once with "database is locked". IMMEDIATE takes the write lock
    when a transaction begins: two requests changing the same case queue at BEGIN, and the
    second then reads what the first wrote (a 409 from the workflow). With SQLite's default
    (DEFERRED) both would read first and one would fail when upgrading to write, a lock
    error that no waiting can resolve."""
    return {"timeout": timeout, "transaction_mode": "IMMEDIATE"}


def _sqlite_timeout(url: str, query: str) -> float:
    values = parse_qs(query).get("timeout")
    if not values:
        return SQLITE_TIMEOUT_SECONDS
    try:
        timeout = float(values[-1])
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 600:
        raise ImproperlyConfigured(
            f"DATABASE_URL {url!r}: timeout must be a number of seconds between 0 and 600"
        )
    return timeout


def parse_database_url(url: str) -> dict:
    """postgres://user:pass@host:port/name?sslmode=require or sqlite:///path/to.db (optional
    ?timeout=seconds, the wait for SQLite's write lock)."""
    parts = urlsplit(url)
    if parts.scheme in ("sqlite", "sqlite3"):
        path = unquote(parts.path)
        if path.startswith("/") and parts.netloc == "":
            path = path[1:] if path.startswith("//") else path
        if not path or path == "/":
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no SQLite file")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": sqlite_options(_sqlite_timeout(url, parts.query)),
        }
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL names no database (…/dbname)")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured("DATABASE_URL has a malformed port") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported (use postgres:// or sqlite:///)"
    )


# A Redis that accepts connections but never answers (hung, or a connection left half-open
# by a failover) must not hold a request: each call gives up after this long and is then
# answered as Redis down (config/outage.py). Redis answers in milliseconds when well.
REDIS_TIMEOUT_SECONDS = 2


def redis_cache(url: str) -> dict:
    """The CACHES entry of a Redis cache, with its socket timeouts."""
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        },
    }


def redis_broker_transport_options() -> dict:
    """Celery's Redis transport waits forever on a silent broker unless told (kombu's
    default): a request queueing a task would hang. The worker's BRPOP (1 s) and pub/sub
    reads happen when the socket is readable, so the timeout only bounds commands that
    expect an answer now, such as a publish."""
    return {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
    }
