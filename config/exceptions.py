"""API error shape: every error answers with a Chinese `detail`, and field errors keep the
field names so a client can point at the offending input."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import DomainError

logger = logging.getLogger(__name__)


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
    if response.status_code == status.HTTP_404_NOT_FOUND:
        response.data = {"detail": "未找到，或不在您的管辖范围内。"}
    return response


def error_response(detail: str, code: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    return Response({"detail": detail, **extra}, status=code)
