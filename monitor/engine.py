"""The one state-machine engine: a table of steps, and one entry point that takes a step.

Cases (monitor/workflow.py) and clues (monitor/feeds/clue_workflow.py) each declare their
table; the engine does the rest the same way for both. It locks the object's row, re-reads
its state under the lock (so of two people acting at once exactly one wins and the other
gets a 409), asks the policy (scope, state, role), checks the step's preconditions, applies
its effect and writes the new state with its audit row (who, role, region, when, why)
in one transaction.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone
from rest_framework import status as http

from accounts import policy
from config.errors import DomainError


class WorkflowError(DomainError):
    """A refused step; `http_status` is 409 for a state conflict, 403 for a wrong role,
    400 for unmet preconditions or bad input, 404 for out-of-scope. `unmet` lists every
    unmet precondition."""

    def __init__(
        self,
        message: str,
        http_status: int = http.HTTP_409_CONFLICT,
        unmet: list[str] | None = None,
    ):
        super().__init__(message, http_status, unmet=unmet or [])
        self.unmet = unmet or []


@dataclass(frozen=True)
class Step:
    """One row of a transition table.

    `source` is one state or a tuple of them (a step open to any open case, such as the
    closure of a household); `target` None keeps the state (a step recorded on the trail
    that changes the object's facts, not its state). `role` is one role or a frozenset.
    `prepare` reads and checks the step's input before the preconditions are read (it may
    set fields on the locked object); `check` returns the unmet preconditions; `effect`
    does the step's other writes after they are met. `guard(obj)` says why the object's
    state refuses the step beyond its status (a confirmation with nothing to confirm, the
    closure of a household that is not closed), or None: the policy answers it as the
    state (409), so no page offers the step and the API's `actions` do not list it."""

    action: str
    label: str
    source: str | tuple
    target: str | None
    role: str | frozenset
    needs_reason: bool = False
    check: Callable | None = None
    effect: Callable | None = None
    prepare: Callable | None = None
    guard: Callable | None = None

    @property
    def sources(self) -> tuple:
        return self.source if isinstance(self.source, tuple) else (self.source,)

    @property
    def roles(self) -> frozenset:
        return self.role if isinstance(self.role, frozenset) else frozenset({self.role})


class Machine:
    """A model's workflow: its steps, its transition (audit) model, and the policy action
    prefix of its steps ("case." → "case.report")."""

    def __init__(self, *, model, transition_model, subject: str, steps, policy_prefix: str):
        self.model = model
        self.transition_model = transition_model
        self.subject = subject
        self.steps = tuple(steps)
        self.by_action = {step.action: step for step in self.steps}
        self.policy_prefix = policy_prefix

    def step(self, action: str) -> Step:
        step = self.by_action.get(action)
        if step is None:
            raise WorkflowError(f"未知的操作「{action}」", http.HTTP_400_BAD_REQUEST)
        return step

    def allowed(self, obj, user) -> list[Step]:
        """Steps this user could take now (for buttons and the API's `actions` field): the
        policy's answer for each step, so a page never offers what the service refuses."""
        return [s for s in self.steps if policy.allows(user, self.policy_prefix + s.action, obj)]

    def record(self, obj, *, action: str, source: str, target: str, by, comment: str = ""):
        """Write one audit row of the trail (also for steps taken in bulk by a service)."""
        return self.transition_model.objects.create(
            **{self.subject: obj},
            action=action,
            from_status=source,
            to_status=target,
            actor=by,
            actor_role=by.role,
            actor_region=by.region_id or "",
            comment=comment[:500],
        )

    def take(self, *, obj_id: int, action: str, by, comment: str = "", today=None, **data):
        step = self.step(action)
        comment = (comment or "").strip()
        if "\x00" in comment:
            # Callers other than the API's serializer (a page's batch form, a command) reach
            # here with raw text: PostgreSQL refuses a NUL in text, SQLite would keep it.
            raise WorkflowError("意见或理由含有无效字符，请重新填写", http.HTTP_400_BAD_REQUEST)
        today = today or timezone.localdate()
        with transaction.atomic():
            # The lock and the state check happen together: a second approver waits here
            # and then sees the state the first one wrote.
            obj = (
                self.model.objects.visible_to(by)
                .select_for_update(of=("self",))
                .filter(pk=obj_id)
                .first()
            )
            if obj is None:
                raise WorkflowError("未找到，或不在您的管辖范围内。", http.HTTP_404_NOT_FOUND)
            decision = policy.decide(by, self.policy_prefix + step.action, obj)
            if not decision:
                raise WorkflowError(decision.reason, decision.status)
            if step.needs_reason and len(comment) < 2:
                raise WorkflowError(f"「{step.label}」须填写理由", http.HTTP_400_BAD_REQUEST)
            context = {"comment": comment, "by": by, **data}
            if step.prepare is not None:
                step.prepare(obj, today, context)
            if step.check is not None:
                unmet = step.check(obj, today)
                if unmet:
                    raise WorkflowError(
                        f"不能{step.label}：" + "；".join(unmet),
                        http.HTTP_400_BAD_REQUEST,
                        unmet=unmet,
                    )
            if step.effect is not None:
                step.effect(obj, today, context)
            source = obj.status
            obj.status = step.target or source
            obj.save()
            self.record(
                obj, action=step.action, source=source, target=obj.status, by=by, comment=comment
            )
        return obj


def check_date(day: date | None, field: str, *, not_after: date, label: str = "日期") -> None:
    """A day given to a step: not in the future."""
    from django.core.exceptions import ValidationError

    if day is not None and day > not_after:
        raise ValidationError({field: f"{label}不能晚于今天"})
