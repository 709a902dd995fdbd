"""A fixed-window counter in the cache (Redis in production, shared by every process)."""

from django.core.cache import cache


def allow(key: str, *, limit: int, seconds: int) -> bool:
    """Count one hit on `key`; False once more than `limit` hits fell in the window."""
    full_key = f"ratelimit:{key}"
    cache.add(full_key, 0, timeout=seconds)
    try:
        count = cache.incr(full_key)
    except ValueError:  # the window expired between add and incr
        cache.set(full_key, 1, timeout=seconds)
        count = 1
    return count <= limit


def client_ip(request) -> str:
    # Behind the county's reverse proxy set REMOTE_ADDR from X-Forwarded-For at the proxy;
    # trusting the header here would let any client pick its own rate-limit key.
    return request.META.get("REMOTE_ADDR") or "unknown"
