"""Region scope: the single rule deciding which people data a user may see.

Every queryset that returns people calls `visible_to(user)`, which asks this module for the
code prefix of the user's region. Deny by default: anonymous users, machine clients,
auditors, administrators and users without a region get None, meaning no rows at all.
"""

from accounts.choices import PEOPLE_ROLES


def region_prefix_of(user) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.role not in PEOPLE_ROLES or user.region_id is None:
        return None
    # From the code alone: scoping a request costs no query.
    from households.models import Region

    return Region.prefix_of_code(user.region_id)
