from django.db import models

from households.choices import RegionLevel


class Role(models.TextChoices):
    VILLAGE_CADRE = "village_cadre", "村干部"
    TOWNSHIP_REVIEWER = "township_reviewer", "乡镇审核人"
    COUNTY_APPROVER = "county_approver", "县级审定人"
    # 市、省级（或县级统计口）: reads the figures and monthly reports of its region; sees no
    # people lists and exports no work sheets.
    STATISTICS_VIEWER = "statistics_viewer", "统计查看人"
    DEPARTMENT = "department", "行业部门（接口）"
    AUDITOR = "auditor", "审计管理员"
    ADMIN = "admin", "系统管理员"


# Roles that work on people's data, and the region level each one sits at.
ROLE_LEVEL = {
    Role.VILLAGE_CADRE: RegionLevel.VILLAGE,
    Role.TOWNSHIP_REVIEWER: RegionLevel.TOWNSHIP,
    Role.COUNTY_APPROVER: RegionLevel.COUNTY,
}
PEOPLE_ROLES = frozenset(ROLE_LEVEL)
# Who reads the report figures (aggregates, no people) and at which region levels.
REPORT_ROLES = PEOPLE_ROLES | {Role.STATISTICS_VIEWER}
STATISTICS_LEVELS = frozenset({RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY})

# Who may ask to see a full ID or phone number (always with a reason, always audited, and
# rate-limited): the cadre at the door, and the township and county staff who check files.
REVEAL_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWNSHIP_REVIEWER, Role.COUNTY_APPROVER})


class AuditAction(models.TextChoices):
    LOGIN = "login", "登录"
    LOGIN_FAILED = "login_failed", "登录失败"
    LOGOUT = "logout", "退出"
    REVEAL_PII = "reveal_pii", "查看完整个人信息"
    IMPORT = "import", "导入数据"
    CREATE = "create", "新增"
    UPDATE = "update", "修改"
    DELETE = "delete", "删除"
    TOKEN_ISSUED = "token_issued", "签发接口密钥"
    TOKEN_REVOKED = "token_revoked", "吊销接口密钥"
    TOKEN_CONFIRMED = "token_confirmed", "复核启用接口密钥"
    SPOT_CHECK_DRAW = "spot_check.draw", "县级抽查抽取"
    EXPORT = "export", "导出台账"
    # Accounts: every change of who may do what, wherever it is made (admin site, 管理
    # pages, commands), is written by accounts.models.User.save.
    ACCOUNT_CREATE = "account.create", "新建账号"
    ROLE_CHANGE = "account.role", "变更角色"
    REGION_CHANGE = "account.region", "变更所属区划"
    ACCOUNT_ACTIVATE = "account.activate", "启用账号"
    ACCOUNT_DEACTIVATE = "account.deactivate", "停用账号"
    PRIVILEGE_CHANGE = "account.privilege", "变更后台权限"
    PASSWORD_SET = "account.password", "设置密码"
    GRANT_REQUESTED = "account.grant_request", "提交授权待复核"
    GRANT_CONFIRMED = "account.grant_confirm", "复核通过授权"
    # Workflow steps of cases and clues (written beside their own trail rows).
    TRANSITION = "transition", "流程操作"
    # The audit log's own upkeep: removing rows past the retention period.
    AUDIT_PRUNE = "audit.prune", "清理过期审计日志"
