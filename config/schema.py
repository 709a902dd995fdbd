"""The OpenAPI schema, true to what the API answers (drf-spectacular's AutoSchema, adjusted).

Every error the API gives has one body (config/exceptions.py): a Chinese `detail`, with
`errors` by field for bad input and `unmet` for a step's unmet conditions. The views
document the errors particular to them (a 409 of a workflow step, a 413 of an upload);
this class adds the ones that follow from how a view is built — sign-in (401), role and
CSRF (403), input (400), the object or page looked up (404), unsupported bodies (415),
throttles (429) — and gives every 4xx the error body, so a client (and schemathesis) sees
each status the server can answer with its shape. A 409 (a state that does not allow the
step) is the view's own to document: only some writes can meet one."""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    """错误回答：detail 为中文说明；输入有误时 errors 按字段列出原因，流程前置条件未满足时
    unmet 列出全部未满足的条件。"""

    detail = serializers.CharField(help_text="中文说明")
    errors = serializers.JSONField(
        required=False, help_text="输入有误时按字段列出原因：{字段: [原因, …]}"
    )
    unmet = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="未满足的前置条件（流程操作）"
    )


# What each status means when a view does not say it more precisely itself.
GENERIC_ERRORS = {
    "400": "输入有误（请求体或查询参数）：detail 为中文说明，errors 按字段列出原因",
    "401": "未登录，或接口密钥无效、已吊销",
    "403": "角色无权执行此操作；以会话登录的，还须已完成动态口令、密码未过期，写请求须带 CSRF 令牌",
    "404": "不存在，或不在您的管辖范围内",
    "415": "请求体的格式（Content-Type）不受支持",
    "429": "请求过于频繁，请稍后再试",
}
PAGE_NOT_FOUND = "页码超出范围（detail 说明共有几页）"


class ApiAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code, description in self._possible_errors(operation).items():
            responses.setdefault(code, {"description": description})
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and not parameter.get("required"):
                # An empty value is read as the parameter left out (django-filter, paging).
                parameter["allowEmptyValue"] = True
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code, response in responses.items():
            if code.startswith("4") and not response.get("content"):
                response["content"] = {"application/json": {"schema": error}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _possible_errors(self, operation: dict) -> dict[str, str]:
        errors = {}
        query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        if "requestBody" in operation:
            errors["400"] = GENERIC_ERRORS["400"]
            errors["415"] = GENERIC_ERRORS["415"]
        elif query:
            errors["400"] = GENERIC_ERRORS["400"]
        if not self._is_public():
            errors["401"] = GENERIC_ERRORS["401"]
            errors["403"] = GENERIC_ERRORS["403"]
        if "{" in self.path:
            errors["404"] = GENERIC_ERRORS["404"]
        elif "page" in query:
            errors["404"] = PAGE_NOT_FOUND
        if self.view.get_throttles():
            errors["429"] = GENERIC_ERRORS["429"]
        return errors

    def map_parsers(self):
        # Documented: JSON where a view reads it, multipart where it takes a file. The form
        # encodings the views also read stay accepted, but a form field cannot tell the text
        # "null" from a null or "" from false, so they are no contract to document.
        types = super().map_parsers()
        if self._takes_file():
            return [t for t in types if t == "multipart/form-data"] or types
        if "application/json" in types:
            return ["application/json"]
        return types

    def _takes_file(self) -> bool:
        serializer = force_instance(self.get_request_serializer())
        if not isinstance(serializer, serializers.Serializer):
            return False
        return any(isinstance(f, serializers.FileField) for f in serializer.fields.values())

    def _is_public(self) -> bool:
        return all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "response" and _answers_null(field):
            meta["nullable"] = True
        return meta

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if (
            isinstance(field, serializers.ChoiceField)
            and field.read_only
            and not field.allow_blank
            and _model_field_is_blank(field)
        ):
            # DRF drops allow_blank from read-only model fields, yet a blank choice column
            # answers "" (a case not cleared has clearance_kind ""): keep "" in the enum.
            # The field instance is the schema generator's own, never used to serialise.
            field.allow_blank = True
        return super()._map_serializer_field(field, direction, bypass_extensions)


def _model_field(field):
    """The model column a serializer field reads directly (not through a relation), if any."""
    model = getattr(getattr(getattr(field, "parent", None), "Meta", None), "model", None)
    source = getattr(field, "source", None)
    if model is None or not source or "." in source or source == "*":
        return None
    try:
        return model._meta.get_field(source)
    except FieldDoesNotExist:
        return None


def _model_field_is_blank(field) -> bool:
    column = _model_field(field)
    return column is not None and bool(getattr(column, "blank", False))


def _answers_null(field) -> bool:
    """Whether a field can answer null although it was not declared with allow_null: a
    default of None (given when its source is missing: a department-less batch, a clue
    without a household), or a read-only field over a nullable column (declared by hand,
    DRF does not carry the column's null over)."""
    if getattr(field, "default", empty) is None:
        return True
    if not getattr(field, "read_only", False):
        return False
    column = _model_field(field)
    return column is not None and bool(getattr(column, "null", False))
