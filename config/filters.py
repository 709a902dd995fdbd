import django_filters
from django import forms


class IdFilter(django_filters.Filter):
    """A row id in a query string: an integer in the database's range, else a 400 (a plain
    NumberFilter hands a huge Decimal to the database, which overflows)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
