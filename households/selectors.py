"""Reads of the registry. Every function that returns people starts from `visible_to`."""

import re

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, Subquery

from households import pii
from households.choices import Relation
from households.idnumber import IdNumberError, normalise_id_number
from households.models import Household, Member

_ID_LIKE = re.compile(r"^[0-9０-９]{14,17}[0-9Xxｘ]$")
_DIGITS = re.compile(r"^[0-9]+$")


def households_for(user):
    """The household list of a user's region, with the head's name and the member count."""
    heads = Member.objects.filter(household=OuterRef("pk"), relation=Relation.HEAD)
    return (
        Household.objects.visible_to(user)
        .select_related("village")
        .annotate(head_name=Subquery(heads.values("name")[:1]), member_count=Count("members"))
    )


def search_households(queryset, query: str):
    """Search by ID number (exact, via the keyed hash), household number, or member name.

    A query that looks like an ID number but is malformed is a ValidationError with the
    reason: a cadre who mistyped one digit should be told, not shown an empty list."""
    text = "".join((query or "").split())
    if not text:
        return queryset
    if _ID_LIKE.match(text):
        try:
            normalised = normalise_id_number(text)
        except IdNumberError as exc:
            raise ValidationError({"q": exc.reason}) from None
        holder = Member.objects.filter(
            household=OuterRef("pk"), id_number_hash=pii.id_number_hash(normalised)
        )
        return queryset.filter(Exists(holder))
    if _DIGITS.match(text):
        return queryset.filter(number__startswith=text)
    named = Member.objects.filter(household=OuterRef("pk"), name__contains=text)
    return queryset.filter(Q(Exists(named)) | Q(address__contains=text))


def members_for(user):
    return Member.objects.visible_to(user).select_related("household")
