from collections.abc import Callable, Mapping

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts import policy
from accounts.scope import region_prefix_of


class PeopleDataAccess(BasePermission):
    """Only staff who work on people's data reach people endpoints at all; which rows they
    see is decided by the region scope of each queryset.

    Writes on one object are judged after the object is looked up in scope, so an object
    outside the region is a 404 for everyone, never a 403 that confirms it exists."""

    message = "您的角色无权访问农户信息。"
    edit_message = "您的角色只能查看，不能修改农户登记信息。"

    def has_permission(self, request, view):
        # A people role without a region has no scope at all (deny by default).
        if region_prefix_of(request.user) is None:
            return False
        if self._reads(request, view) or getattr(view, "detail", False):
            return True
        self.message = self.edit_message
        return policy.allows(request.user, "household.create")

    def has_object_permission(self, request, view, obj):
        if self._reads(request, view):
            return True
        self.message = self.edit_message
        # Which records may be edited is the registry's rule (accounts/policy.py).
        return request.user.role in policy.rule_for("household.edit").roles

    @staticmethod
    def _reads(request, view) -> bool:
        # Some POST actions only read or check their own role (revealing a number, workflow
        # steps): views list them by name.
        return request.method in SAFE_METHODS or getattr(view, "action", None) in getattr(
            view, "read_only_actions", ()
        )


class IsAdministrator(BasePermission):
    message = "仅系统管理员可执行此操作。"

    def has_permission(self, request, view):
        return policy.allows(request.user, "measure_category.manage")


class IsAuditor(BasePermission):
    """三权分立: the audit trail is read by the auditor, not by the administrator."""

    message = "仅审计管理员可查看审计日志。"

    def has_permission(self, request, view):
        return policy.allows(request.user, "audit.read")


class IsDepartment(BasePermission):
    """A department's machine account with an active department record. Such an account
    reaches only its own batches: it has no region scope, so it never reads households."""

    message = "仅行业部门接口账号可推送预警名单。"

    def has_permission(self, request, view):
        user = request.user
        if not policy.allows(user, "feed.push"):
            return False
        record = getattr(user, "department_record", None)
        return record is not None and record.active


class AsksPolicy(BasePermission):
    """Lets in the roles a policy rule names, before any object is looked up (the rule's
    scope and state need the object: the service judges those). Subclasses name the rule;
    `actions` maps a view action to another rule where one view serves several."""

    action = ""
    actions: Mapping[str, str] = {}

    def has_permission(self, request, view):
        name = self.actions.get(getattr(view, "action", None), self.action)
        decision = policy.decide(request.user, name)
        # The rule's own words: the role is told why, in Chinese, as the pages tell it.
        self.message = decision.reason
        return decision.allowed


# Monitoring lines, local rules, the catalogues and insurance policies: read by every role
# but the auditor (三权分立: the audit log and nothing else).
READ_REFERENCE = "reference.read"


class ReadsReferenceData(AsksPolicy):
    action = READ_REFERENCE


class ExportsWorkSheets(AsksPolicy):
    """台账 list people: only the people roles ask for, follow and fetch them (a role without
    people duties is refused before its own jobs are even looked up)."""

    action = "report.export"


class FollowsScreeningRuns(AsksPolicy):
    """Screening runs count the households of a whole township, county or province: run and
    followed by townships and counties, as the batch pages are."""

    action = "batches.read"
    actions = {"create": "screening.run"}


def body_value(request, name: str, default=None):
    """A value of the request body read before the serializer sees it (to pick the policy
    rule a write falls under); a body that is not an object, or a value that is not text,
    gives None: the serializer will name what is wrong with it."""
    data = request.data
    if not isinstance(data, Mapping):
        return None
    value = data.get(name, default)
    return value if isinstance(value, str) else None


# What `policy_actions` maps a view action to: the policy rule's name, or a function of the
# request and the object that returns it (None: no rule can be told from the body).
PolicyAsked = str | Callable[[object, object], str | None]


class PolicyFirst:
    """A viewset mixin for writes whose service asks accounts/policy.py: the view asks the
    same rule first, right after the object is looked up in scope and before the body is
    validated. A role the action is not for is answered 403, and an object whose state
    refuses it 409 (or the 400 the rule gives records), whatever the body — a client is
    not told to fix input it may not send at all. The service asks again under its lock,
    so a request racing another still meets the state written first."""

    # view action → the rule its service requires (PolicyAsked).
    policy_actions: Mapping[str, PolicyAsked] = {}

    def policy_target(self, obj):
        """The object the rule judges (a claim is judged by its household)."""
        return obj

    def check_policy(self, request, obj=None) -> None:
        if request.method in SAFE_METHODS:
            return
        asked = self.policy_actions.get(self.action)
        if callable(asked):
            asked = asked(request, obj)
        if not asked:
            return
        target = None if obj is None else self.policy_target(obj)
        # require() answers as the service would: 404, then the state, then the role.
        policy.require(request.user, asked, target)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not self.detail:
            # A write without an object (a claim's report): the rule's role alone.
            self.check_policy(request)

    def get_object(self):
        obj = super().get_object()
        self.check_policy(self.request, obj)
        return obj
