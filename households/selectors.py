"""Reads of the registry. Every function that returns people starts from `visible_to`."""

import re

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, Subquery

from households import pii
from households.choices import Relation
from households.idnumber import IdNumberError, normalise_id_number
from households.models import Household, Member

_ID_LIKE = re.compile(r"^[0-9０-９]{14,17}[0-9Xxｘ]$")  # after folding, 15 or 18 long
_DIGITS = re.compile(r"^[0-9]+$")
SEARCH_MAX_LENGTH = 100


def households_for(user):
    """The household list of a user's region, with the head's name and the member count."""
    heads = Member.objects.filter(household=OuterRef("pk"), relation=Relation.HEAD)
    return (
        Household.objects.visible_to(user)
        .select_related("village")
        .annotate(head_name=Subquery(heads.values("name")[:1]), member_count=Count("members"))
    )


def search_households(queryset, query: str):
    """Search by household number, ID number (exact, via the keyed hash) or member name.

    A digit string is first taken as a 户编号 (the demo's are 17 digits, some counties' 18);
    only a 15- or 18-character string that matches no household number is taken as an ID
    number, and if it is malformed that is a ValidationError with the reason — a cadre who
    mistyped one digit should be told, not shown an empty list."""
    text = "".join((query or "").split())
    if not text:
        return queryset
    if len(text) > SEARCH_MAX_LENGTH:
        # A name, number or address is short; a long text only costs the database (SQLite
        # refuses a LIKE pattern of 50,000 bytes outright).
        raise ValidationError({"q": f"搜索内容不能超过 {SEARCH_MAX_LENGTH} 个字"})
    if "\x00" in text:
        # PostgreSQL refuses a NUL in a query parameter: a server error, not a search.
        raise ValidationError({"q": "搜索内容含有无效字符，请重新输入"})
    if _DIGITS.match(text):
        by_number = queryset.filter(number__startswith=text)
        if len(text) not in (15, 18) or by_number.exists():
            return by_number
    if _ID_LIKE.match(text) and len(text) in (15, 18):
        try:
            normalised = normalise_id_number(text)
        except IdNumberError as exc:
            raise ValidationError({"q": pii.mask_pii_in_text(exc.reason)}) from None
        holder = Member.objects.filter(
            household=OuterRef("pk"), id_number_hash=pii.id_number_hash(normalised)
        )
        return queryset.filter(Exists(holder))
    named = Member.objects.filter(household=OuterRef("pk"), name__contains=text)
    return queryset.filter(Q(Exists(named)) | Q(address__contains=text))


def members_for(user):
    return Member.objects.visible_to(user).select_related("household")
