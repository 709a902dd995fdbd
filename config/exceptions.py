"""API error shape: every error answers with a Chinese `detail`, and field errors keep the
field names so a client can point at the offending input."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import DomainError
from config.outage import BUSY_RETRY_AFTER_SECONDS, DATABASE_BUSY, database_busy
from config.pagination import PageNotFound

logger = logging.getLogger(__name__)

NOT_FOUND = "未找到，或不在您的管辖范围内。"
DATA_ERROR = "提交的数据超出允许的范围，或含有无法保存的字符（如空字符），请检查后重试。"


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, **exc.extra}, status=exc.http_status)
    if isinstance(exc, IntegrityError):
        # A safety net: services check rules before writing, but a concurrent write can still
        # trip a constraint. That is a conflict to retry, not a server fault.
        logger.warning("integrity error answered as 409: %s", exc)
        return Response(
            {"detail": "数据已被他人同时修改或与已有记录冲突，请刷新后重试。"},
            status=status.HTTP_409_CONFLICT,
        )
    if database_busy(exc):
        # SQLite (the demo) stayed locked by another writer for the whole wait: busy, not
        # broken. Answered here rather than by handler500 so that debug mode answers it too.
        logger.warning("database locked past the wait: answered 503")
        return Response(
            {"detail": DATABASE_BUSY},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DataError):
        # Another safety net: a value the database cannot store or compare (a NUL character
        # in a code looked up, a number past its column) is the caller's bad input. PostgreSQL
        # refuses it where SQLite may not; either way a 400, never a 500.
        logger.warning("data error answered as 400: %s", exc)
        return Response({"detail": DATA_ERROR}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        # A model-level rule that slipped past a serializer is still the caller's bad input.
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError) and isinstance(response.data, dict):
        if "detail" not in response.data:
            response.data = {
                "detail": "提交的数据有误，请检查标出的字段。",
                "errors": response.data,
            }
    elif isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "提交的数据有误。", "errors": response.data}
    if response.status_code == status.HTTP_404_NOT_FOUND and not isinstance(exc, PageNotFound):
        # One answer for "no such object" and "not yours": existence outside the region
        # is not told. A page past the end keeps its own message (the page count).
        response.data = {"detail": NOT_FOUND}
    return response


def error_response(detail: str, code: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    return Response({"detail": detail, **extra}, status=code)


API_NOT_FOUND_NAME = "api-not-found"


@csrf_exempt  # like the API views: a POST to a wrong address is told so, not refused for CSRF
def api_not_found(request, rest=""):
    """An address under /api/ that names no endpoint: a JSON answer in Chinese like every
    other API error, never Django's HTML page (in debug or not). A GET that only lacks its
    final slash is still redirected, as Django's APPEND_SLASH did before this route."""
    path = request.path_info
    if not path.endswith("/") and _is_endpoint(path + "/"):
        if request.method in ("GET", "HEAD"):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        detail = f"接口地址应以 / 结尾：{path}/"
    else:
        detail = "接口地址不存在，请对照接口文档（/api/docs/）检查地址。"
    return JsonResponse({"detail": detail}, status=404, json_dumps_params={"ensure_ascii": False})


def _is_endpoint(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.url_name != API_NOT_FOUND_NAME
