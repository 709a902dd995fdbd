"""Events that reach the audit log through Django's signals.

Sign-ins (等保: login success and failure are audited): Django announces them only through
its auth signals. Workflow steps: the engine (monitor/engine.py) writes each step of a case
or a clue as a trail row; the auditor reads them here too, one event per row, written in
the same transaction as the step — a step that rolls back leaves no event."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.audit import audit_record
from accounts.choices import AuditAction


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(actor=user, action=AuditAction.LOGIN, request=request)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, request=request)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        request=request,
        detail={"username": str(credentials.get("username", ""))[:150]},
    )


def _transition_recorded(subject: str, what: str):
    def record(sender, instance, created, raw=False, **kwargs):
        if not created or raw:  # fixtures load history, not steps taken now
            return
        from households.pii import mask_pii_in_text

        subject_id = getattr(instance, f"{subject}_id")
        audit_record(
            actor=instance.actor,
            action=AuditAction.TRANSITION,
            obj=instance,
            object_label=(
                f"{what} {subject_id}：{instance.action}"
                f"（{instance.from_status} → {instance.to_status}）"
            ),
            # Staff write comments freely: an ID or phone number in one is masked here.
            reason=mask_pii_in_text(instance.comment or ""),
            detail={
                subject: subject_id,
                "step": instance.action,
                "from": instance.from_status,
                "to": instance.to_status,
                "role": instance.actor_role,
                "region": instance.actor_region,
            },
        )

    return record


_case_step = _transition_recorded("case", "案例")
_clue_step = _transition_recorded("clue", "线索")
post_save.connect(_case_step, sender="monitor.CaseTransition", weak=False)
post_save.connect(_clue_step, sender="monitor.ClueTransition", weak=False)
