"""ChoiceLabelField answers what Django's get_FOO_display answers, without calling it."""

import pytest
from django.utils.functional import SimpleLazyObject
from rest_framework import serializers

from accounts.models import User
from config.fields import ChoiceLabelField
from households.models import Household, Member
from monitor.models import Case


class _CaseLabels(serializers.Serializer):
    status_display = ChoiceLabelField(source="get_status_display")
    clearance_kind_display = ChoiceLabelField(source="get_clearance_kind_display")


@pytest.mark.parametrize(
    ("status", "clearance_kind"),
    [
        ("reported", "assisted"),
        ("monitoring", ""),  # blank: not one of the choices, given back as stored
        ("no_such_status", None),  # stored outside the choices; None stays None
    ],
)
def test_labels_equal_get_display(status, clearance_kind):
    case = Case(status=status, clearance_kind=clearance_kind)
    data = _CaseLabels(case).data
    assert data["status_display"] == case.get_status_display()
    assert data["clearance_kind_display"] == case.get_clearance_kind_display()
    if status == "reported":
        assert data["status_display"] == "村级已上报"


def test_a_property_with_its_own_display_method_is_called():
    class _Colour(serializers.Serializer):
        file_colour_display = ChoiceLabelField(source="get_file_colour_display")

    household = Household()
    household.get_file_colour_display = lambda: "绿档"
    assert _Colour(household).data == {"file_colour_display": "绿档"}


def test_read_only_and_only_for_display_sources():
    assert ChoiceLabelField(source="get_sex_display").read_only
    with pytest.raises(ValueError, match="get_<name>_display"):
        ChoiceLabelField(source="sex")


def test_integer_and_role_choices():
    class _Labels(serializers.Serializer):
        sex_display = ChoiceLabelField(source="get_sex_display")

    class _Role(serializers.Serializer):
        role_display = ChoiceLabelField(source="get_role_display")

    assert _Labels(Member(sex="F")).data == {"sex_display": "女"}
    user = User(role="auditor")
    assert _Role(user).data == {"role_display": "审计管理员"}
    # As request.user: a lazy object standing in for the model.
    assert _Role(SimpleLazyObject(lambda: user)).data == {"role_display": "审计管理员"}
