"""Writing the audit log. Callers pass labels that are already masked."""

from accounts.models import AuditEvent


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    object_label: str = "",
    reason: str = "",
    detail: dict | None = None,
    request=None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_label = object_label or str(obj)
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_label=object_label[:200],
        reason=reason[:300],
        detail=detail or {},
        ip=client_ip(request),
    )
