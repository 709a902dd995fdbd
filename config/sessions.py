"""Sessions end after SESSION_COOKIE_AGE seconds without activity (等保 level 3: 30 minutes),
and are written only when that end has to move.

Django's SESSION_SAVE_EVERY_REQUEST would do the same by writing the session row on every
request (an UPDATE and a commit, three statements), only to push its end a few seconds
further. Here a request pushes the end only when the last push is SESSION_TOUCH_SECONDS old,
so a session ends between SESSION_COOKIE_AGE - SESSION_TOUCH_SECONDS and SESSION_COOKIE_AGE
after the person's last request: never later than the limit.

Background polling is not activity: an htmx element that asks for itself every few seconds
(a warning list or an export being processed) sends `X-Poll: 1`, and such a request never
moves the end, so a page left open does not keep its session alive. When the session has
ended, such a request gets `HX-Redirect` to the sign-in page rather than the page itself
swapped into the polling box."""

import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import resolve_url

# Epoch seconds of the last request that moved the session's end.
TOUCHED_KEY = "_active_at"
POLL_HEADER = "X-Poll"


def is_background(request) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def mark_active(session, now: int | None = None) -> None:
    """Note activity now: the session is saved at the end of the request, and its end moves."""
    session[TOUCHED_KEY] = int(time.time()) if now is None else now


class IdleTimeoutMiddleware:
    """Right after Django's SessionMiddleware (which then saves what this marks): replaces
    SESSION_SAVE_EVERY_REQUEST by a save at most every SESSION_TOUCH_SECONDS of activity,
    or whenever the session changed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if _signed_out_htmx(request, response):
            # An in-place request (a poll) whose session has ended would swap the sign-in
            # page into its box: the browser loads it instead, returning to this page after.
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = current.path + (f"?{current.query}" if current.query else "")
            target = resolve_url(settings.LOGIN_URL)
            if back:
                target += "?" + urlencode({"next": back})
            return HttpResponse(status=204, headers={"HX-Redirect": target})
        session = getattr(request, "session", None)
        # Only a session this request read and found (a signed-in person's): an anonymous
        # request, or one with an expired cookie, must not create a session row.
        found = session is not None and session.accessed and not session.is_empty()
        if found and not is_background(request):
            now = int(time.time())
            last = session.get(TOUCHED_KEY)
            stale = (
                not isinstance(last, int) or not 0 <= now - last < settings.SESSION_TOUCH_SECONDS
            )
            # A session saved anyway (new key at sign-in, data changed) records the time too.
            if stale or session.modified:
                mark_active(session, now)
        return response


def _signed_out_htmx(request, response) -> bool:
    if request.headers.get("HX-Request") != "true" or response.status_code != 302:
        return False
    login = resolve_url(settings.LOGIN_URL)
    return urlsplit(response.get("Location", "")).path == login


def on_sign_in(sender, request, user, **kwargs):
    """A new session starts active (its first request then writes nothing)."""
    session = getattr(request, "session", None)
    if session is not None:
        mark_active(session)
