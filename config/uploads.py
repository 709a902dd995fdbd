"""The size of an upload, checked before its body is read."""

from config.errors import DomainError


def require_length(request, limit: int) -> None:
    """Refuse a body over `limit` bytes with 413, and one sent without Content-Length (chunked
    transfer) with 411: Django reads a body without a declared length as empty, which would
    otherwise surface as a puzzling "no file" error — or, behind another server, as a body of
    unknown size."""
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw.isdigit():
        raise DomainError("请求缺少 Content-Length，请整体上传，不要使用分块传输", 411)
    if int(raw) > limit:
        raise DomainError(f"上传内容超过 {limit // (1024 * 1024)} MB 的上限，请拆分后分批上传", 413)
