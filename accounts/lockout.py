"""Login failure handling (等保 登录失败处理): after too many failed sign-ins for one account
the account is locked for a while, whatever the client's address. Counts live in the cache
(Redis in production) so every web process sees the same count."""

from django.conf import settings
from django.core.cache import cache


def _key(username: str) -> str:
    return f"login-failures:{username.strip().lower()}"


def is_locked(username: str) -> bool:
    return cache.get(_key(username), 0) >= settings.LOGIN_MAX_FAILURES


def record_failure(username: str) -> int:
    key = _key(username)
    # add() is a no-op when the key exists, so the window starts at the first failure.
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        return 1


def clear(username: str) -> None:
    cache.delete(_key(username))
