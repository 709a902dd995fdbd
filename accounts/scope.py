"""Region scope: the single rule deciding which people data a user may see.

Every queryset that returns people calls `visible_to(user)`, which asks this module for the
code prefix of the user's region. Deny by default: anonymous users, machine clients,
auditors, administrators and users without a region get None, meaning no rows at all.
"""

from django.db import models

from accounts.choices import PEOPLE_ROLES, REPORT_ROLES


def region_prefix_of(user) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.role not in PEOPLE_ROLES or user.region_id is None:
        return None
    # From the code alone: scoping a request costs no query.
    from households.models import Region

    return Region.prefix_of_code(user.region_id)


def report_prefix_of(user) -> str | None:
    """The region whose figures (counts, never people) a user may read: people roles read
    their own region, statistics viewers (市、省级) theirs. None: no figures at all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.role not in REPORT_ROLES or user.region_id is None:
        return None
    from households.models import Region

    return Region.prefix_of_code(user.region_id)


class ScopedQuerySet(models.QuerySet):
    """A queryset of things that lie in a region. `region_field` is the lookup path to the
    region's code (e.g. "household__village__code"); "inside a region" is a prefix match on
    it, and `visible_to` is that match with the user's own prefix — or nothing at all."""

    region_field: str = ""

    def inside(self, prefix: str):
        return self.filter(**{f"{self.region_field}__startswith": prefix})

    def visible_to(self, user):
        prefix = region_prefix_of(user)
        return self.none() if prefix is None else self.inside(prefix)
