"""The navigation bar: which areas a user's role works in, asked of the policy."""

from django.urls import reverse

from accounts import policy

# (label, url name, the actions whose role rules open the area; any one will do)
AREAS = [
    ("首页", "home", None),
    ("农户", "household-list-page", "registry.read"),
    ("监测对象", "case-list-page", "registry.read"),
    ("消除后跟踪", "follow-up-list-page", "registry.read"),
    ("审核", "review-page", "case.township_approve|case.county_approve"),
    ("预警线索", "clue-list-page", "registry.read"),
    ("下发批次", "round-list-page", "rounds.read"),
    ("部门名单", "batch-list-page", "batches.read"),
    ("公示名单", "notice-list-page", "registry.read"),
    ("统计报表", "report-home-page", "report.read"),
    ("台账导出", "export-list-page", "report.export"),
    ("管理", "manage-home", "department.manage"),
    ("待复核授权", "grant-list-page", "department.manage|users.manage"),
]


def _opens(user, actions: str | None) -> bool:
    if actions is None:
        return True
    return any(policy.allows(user, action) for action in actions.split("|"))


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    # No areas to offer while the sign-in is unfinished (second factor, expired password).
    if user is None or not user.is_authenticated or getattr(request, "account_gate", None):
        return {}
    items = [
        {"label": label, "url": reverse(name), "active": False}
        for label, name, actions in AREAS
        if _opens(user, actions)
    ]
    # The item whose address is the longest start of the path is the page's area (the
    # notice list under /cases/ belongs to itself, not to the case list).
    path = request.path
    matching = [
        item
        for item in items
        if path == item["url"] or (item["url"] != "/" and path.startswith(item["url"]))
    ]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {"nav_items": items}
