"""Serializer fields shared by the apps' APIs."""

from django.core.exceptions import FieldDoesNotExist
from rest_framework import serializers

# (model class, field name) -> (attribute name, {value: label}), or None where the name is
# not a model field with choices (a property with its own get_<name>_display method).
_CHOICES: dict = {}


def _choices(model, name: str):
    key = (model, name)
    if key not in _CHOICES:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            found = None
        else:
            # Django's get_FOO_display builds this dict again on every call.
            found = (field.attname, dict(field.flatchoices)) if field.choices else None
        _CHOICES[key] = found
    return _CHOICES[key]


class ChoiceLabelField(serializers.CharField):
    """The label of a choice, read-only, spelled like a plain CharField with that source:
    `ChoiceLabelField(source="get_status_display")`.

    Why not the plain CharField: for every value DRF asks whether the attribute is a
    callable taking no arguments, through `inspect.signature` — about 15% of a case list's
    time. This reads the label from the model field's choices instead and answers what
    `get_FOO_display` answers: the label, or the stored value when it is not one of the
    choices (None stays None). A name that is not a model field with choices calls the
    method."""

    def __init__(self, **kwargs):
        source = kwargs.get("source", "")
        if not (source.startswith("get_") and source.endswith("_display")):
            raise ValueError(f"ChoiceLabelField needs source='get_<name>_display', not {source!r}")
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.choice_name = source[len("get_") : -len("_display")]

    def get_attribute(self, instance):
        # __class__, not type(): a request's user is a lazy object standing in for the model.
        found = (
            _choices(instance.__class__, self.choice_name) if hasattr(instance, "_meta") else None
        )
        if found is None:
            return getattr(instance, self.source)()
        attname, labels = found
        value = getattr(instance, attname)
        try:
            return labels.get(value, value)
        except TypeError:  # unhashable: not one of the choices
            return value
