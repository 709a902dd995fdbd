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
