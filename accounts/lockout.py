"""Login failure handling (等保 登录失败处理): after too many failed sign-ins for one account
the account is locked for a while, whatever the client's address. Counts live in the cache
(Redis in production) so every web process sees the same count.

The window opens at the first failure and lasts LOGIN_LOCKOUT_SECONDS; the lock ends with
it, so the time left is read from the window's start (kept beside the count)."""

import math
import time

from django.conf import settings
from django.core.cache import cache


def _key(username: str) -> str:
    return f"login-failures:{username.strip().lower()}"


def _since_key(username: str) -> str:
    return f"login-failures-since:{username.strip().lower()}"


# No account has a longer name (Django's username column): such a sign-in is counted
# nowhere, so a 10,000-character name never becomes a cache key.
MAX_USERNAME = 150


def is_locked(username: str) -> bool:
    if len(username) > MAX_USERNAME:
        return False
    return cache.get(_key(username), 0) >= settings.LOGIN_MAX_FAILURES


def locked_minutes(username: str) -> int:
    """Whole minutes (rounded up) until a locked account may sign in again; 0 if unlocked."""
    if not is_locked(username):
        return 0
    since = cache.get(_since_key(username))
    window = settings.LOGIN_LOCKOUT_SECONDS
    left = window if since is None else max(window - (time.time() - since), 1)
    return max(math.ceil(left / 60), 1)


def record_failure(username: str) -> int:
    if len(username) > MAX_USERNAME:
        return 0
    key = _key(username)
    timeout = settings.LOGIN_LOCKOUT_SECONDS
    # add() is a no-op when the key exists, so the window starts at the first failure.
    if cache.add(key, 0, timeout=timeout):
        cache.set(_since_key(username), time.time(), timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        cache.set(_since_key(username), time.time(), timeout=timeout)
        return 1


def clear(username: str) -> None:
    cache.delete_many([_key(username), _since_key(username)])
