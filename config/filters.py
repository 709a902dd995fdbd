"""Query-string filters that refuse what they cannot read (400 naming the parameter) instead
of ignoring it: django-filter's own boolean filter reads "maybe" as "not given", and its
number filter takes 3.5 for a year. Used by every API filter set, through FilterBackend
(auto-generated filters) and FilterSet (declared ones)."""

from datetime import UTC, datetime, timedelta

import django_filters
import django_filters.fields
from django import forms
from django.db import models
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from django_filters.rest_framework import DjangoFilterBackend


class IdFilter(django_filters.Filter):
    """A row id in a query string: an integer in the database's range, else a 400 (a plain
    NumberFilter hands a huge Decimal to the database, which overflows)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.Field):
    """true/false (or 1/0); empty is "not given"; anything else is refused."""

    widget = forms.TextInput
    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError("应为 true 或 false", code="invalid") from None


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class IntegerFilter(django_filters.NumberFilter):
    """An integer column (a year): a decimal or a number past the column is refused."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -(2**63))
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class BoundedIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment the database can compare: PostgreSQL refuses a UTC offset past
    ±15:59 (a 500 before this), and a moment near year 1 or 9999 overflows when turned to
    UTC. Real offsets are within ±14:00; the system's records start after 2000."""

    EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        offset = moment.utcoffset()
        if offset is not None and abs(offset) > timedelta(hours=14):
            raise forms.ValidationError("时区偏移应在 ±14:00 以内", code="invalid")
        if moment.year <= 1 or moment.year >= 9999:
            raise forms.ValidationError("时间应在 2000 年至 2100 年之间", code="invalid")
        aware = moment if offset is not None else moment.replace(tzinfo=UTC)
        if not self.EARLIEST <= aware < self.LATEST:
            raise forms.ValidationError("时间应在 2000 年至 2100 年之间", code="invalid")
        return moment


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


_INTEGER_COLUMNS = (
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)


def _strict_defaults() -> dict:
    defaults = dict(FILTER_FOR_DBFIELD_DEFAULTS)
    defaults[models.BooleanField] = {"filter_class": BooleanFilter}
    for column in _INTEGER_COLUMNS:
        defaults[column] = {"filter_class": IntegerFilter}
    return defaults


# A name, number, code or address to look for is short; 50,000 characters are only work
# for the database (SQLite refuses such a LIKE pattern outright: a 500 before this bound).
TEXT_MAX_LENGTH = 100


class FilterSet(django_filters.FilterSet):
    FILTER_DEFAULTS = _strict_defaults()

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        for item in filters.values():
            if isinstance(item, django_filters.CharFilter):
                item.extra.setdefault("max_length", TEXT_MAX_LENGTH)
        return filters


class FilterBackend(DjangoFilterBackend):
    """DRF's filter backend over the strict filter set (for `filterset_fields`)."""

    filterset_base = FilterSet
