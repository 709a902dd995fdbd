"""JSON parsing that answers bad bodies in Chinese and survives hostile nesting."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON 嵌套层数过多") from None
        except ParseError:
            raise ParseError("请求内容不是有效的 JSON（须为 UTF-8 编码）") from None
