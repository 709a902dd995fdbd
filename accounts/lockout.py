"""Login failure handling (等保 登录失败处理): after too many failed sign-ins for one account
the account is locked for a while, whatever the client's address. Counts live in the cache
(Redis in production) so every web process sees the same count.

A sign-in takes its number *before* the password is checked (`attempt_begin`, one atomic
increment): had the count been read first and raised after the check, twenty tries sent at
once would all read "no failures yet" and all be checked. Now only the first
LOGIN_MAX_FAILURES numbers reach the password; a success clears the count.

The window opens at the first attempt and lasts LOGIN_LOCKOUT_SECONDS; the lock ends with
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


def _count(username: str) -> int:
    if len(username) > MAX_USERNAME:
        return 0
    return cache.get(_key(username), 0)


def is_locked(username: str) -> bool:
    return _count(username) >= settings.LOGIN_MAX_FAILURES


def locked_minutes(username: str) -> int:
    """Whole minutes (rounded up) until a locked account may sign in again; 0 if unlocked."""
    if not is_locked(username):
        return 0
    since = cache.get(_since_key(username))
    window = settings.LOGIN_LOCKOUT_SECONDS
    left = window if since is None else max(window - (time.time() - since), 1)
    return max(math.ceil(left / 60), 1)


def _increment(username: str) -> int:
    """Add one to the account's count, atomically, and return the new count."""
    key, since = _key(username), _since_key(username)
    timeout = settings.LOGIN_LOCKOUT_SECONDS
    for _ in range(3):
        # add() is a no-op when the key exists, so the window starts at the first attempt.
        if cache.add(key, 1, timeout=timeout):
            cache.set(since, time.time(), timeout=timeout)
            return 1
        try:
            count = cache.incr(key)
        except ValueError:  # the window ended between add and incr: open a new one
            continue
        if count == 1:
            # Redis's INCR revived a key that expired under it, without a time to live;
            # give the new window its end, or the account would stay locked for good.
            cache.touch(key, timeout)
            cache.set(since, time.time(), timeout=timeout)
        return count
    return settings.LOGIN_MAX_FAILURES + 1  # the cache keeps losing the key: locked


def attempt_begin(username: str) -> bool:
    """Take a number for one sign-in attempt. False: the account is locked and the password
    must not be checked. Call before checking; `clear` after a success."""
    if len(username) > MAX_USERNAME:
        return True  # no such account; the check fails without being counted
    return _increment(username) <= settings.LOGIN_MAX_FAILURES


def clear(username: str) -> None:
    if len(username) > MAX_USERNAME:
        return
    cache.delete_many([_key(username), _since_key(username)])
