"""Existence oracles (issue 11, item 5): filing a member or changing a household number must
not tell a user what lies outside his region. A clash with a record he can see is named; a
clash with anything else gets the same words whether it sits in the next county or nowhere
he could look."""

import pytest
from django.core.exceptions import ValidationError

from households.models import Household, Member
from households.services import (
    HOUSEHOLD_NUMBER_REFUSED,
    ID_NUMBER_REFUSED,
    household_create,
    member_create,
)
from tests.conftest import OTHER_VILLAGE, VILLAGE_A, VILLAGE_B
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

ELSEWHERE = make_id_number(region="630122", sequence=900)


@pytest.fixture
def homes(users):
    """A household of 东关村 (cadre_a's), one of 西关村 next door (the same township), and
    one in the next county with a member whose ID number is ELSEWHERE."""
    other = HouseholdFactory(village_id=OTHER_VILLAGE)
    MemberFactory(household=other, id_number=ELSEWHERE)
    return {
        "mine": HouseholdFactory(village_id=VILLAGE_A),
        "next_door": HouseholdFactory(village_id=VILLAGE_B),
        "other": other,
    }


def _member(api, name, household, id_number):
    return api(name).post(
        "/api/members/",
        {
            "household": household.pk,
            "name": "张三",
            "id_number": id_number,
            "relation": "spouse",
            "labour": "ordinary",
        },
        format="json",
    )


def test_filing_a_member_registered_in_another_county_does_not_say_so(api, homes):
    response = _member(api, "cadre_a", homes["mine"], ELSEWHERE)
    assert response.status_code == 400
    assert response.json()["errors"] == {"id_number": [ID_NUMBER_REFUSED]}
    text = response.content.decode()
    for secret in ("其他农户", "管辖", homes["other"].number, OTHER_VILLAGE):
        assert secret not in text
    assert not homes["mine"].members.exists()


def test_the_refusal_is_the_same_for_a_clash_the_user_cannot_see_next_door(api, homes):
    # 西关村's member is outside cadre_a's village: the same words as for another county.
    hidden = make_id_number(sequence=904)
    MemberFactory(household=homes["next_door"], id_number=hidden)
    response = _member(api, "cadre_a", homes["mine"], hidden)
    assert response.json()["errors"] == {"id_number": [ID_NUMBER_REFUSED]}
    # The township sees both villages: it is told where the person is registered.
    seen = _member(api, "reviewer_1", homes["mine"], hidden)
    assert seen.status_code == 400
    assert homes["next_door"].number in seen.json()["errors"]["id_number"][0]


def test_changing_a_member_s_id_number_to_one_elsewhere_does_not_say_so(api, homes):
    member = MemberFactory(household=homes["mine"], relation="spouse")
    response = api("cadre_a").patch(
        f"/api/members/{member.pk}/", {"id_number": ELSEWHERE}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"id_number": [ID_NUMBER_REFUSED]}


def test_a_household_number_held_elsewhere_is_not_revealed(api, homes):
    # A number that cannot be this household's is refused as such, held elsewhere or not.
    taken = homes["other"].number
    free = OTHER_VILLAGE + "77777"
    answers = [
        api("cadre_a").patch(f"/api/households/{homes['mine'].pk}/", {"number": n}, format="json")
        for n in (taken, free)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert "已存在" not in answers[0].content.decode()


def test_a_legacy_number_held_in_another_county_is_refused_without_saying_where(api, homes):
    # Old data: a household elsewhere whose number begins with 东关村's code.
    legacy = HouseholdFactory(village_id=OTHER_VILLAGE, number=VILLAGE_A + "99999")
    response = api("cadre_a").patch(
        f"/api/households/{homes['mine'].pk}/", {"number": legacy.number}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"number": [HOUSEHOLD_NUMBER_REFUSED]}
    created = api("cadre_a").post(
        "/api/households/",
        {"number": legacy.number, "village": VILLAGE_A, "kind": "ordinary", "address": "东关"},
        format="json",
    )
    assert created.status_code == 400
    assert created.json()["errors"] == {"number": [HOUSEHOLD_NUMBER_REFUSED]}
    assert Household.objects.filter(number=legacy.number).count() == 1


def test_a_number_held_in_the_user_s_own_village_is_named_as_such(api, homes):
    neighbour = HouseholdFactory(village_id=VILLAGE_A)
    response = api("cadre_a").patch(
        f"/api/households/{homes['mine'].pk}/", {"number": neighbour.number}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"number": ["该户编号已被本辖区其他农户使用"]}
    assert api("cadre_a").patch(
        f"/api/households/{homes['mine'].pk}/", {"number": VILLAGE_A + "55555"}, format="json"
    ).json()["number"] == (VILLAGE_A + "55555")


def test_the_services_refuse_in_the_same_words_without_a_user(homes):
    # Callers without a user (commands) see no region: nothing is named.
    with pytest.raises(ValidationError) as refused:
        member_create(household=homes["mine"], id_number=ELSEWHERE, name="李四", relation="spouse")
    assert refused.value.message_dict == {"id_number": [ID_NUMBER_REFUSED]}
    with pytest.raises(ValidationError) as refused:
        household_create(number=homes["other"].number, village_id=OTHER_VILLAGE, kind="ordinary")
    assert refused.value.message_dict == {"number": [HOUSEHOLD_NUMBER_REFUSED]}
    assert Member.objects.filter(household=homes["mine"]).count() == 0


def test_the_registry_import_answers_in_the_same_words(homes):
    from households.importing import registry_import

    mine = homes["mine"].number
    members = (
        f"户编号,姓名,身份证号,与户主关系,劳动技能\n{mine},张三,{ELSEWHERE},配偶,普通劳动力\n"
    ).encode()
    report = registry_import(
        data=members, filename="members.csv", scope_prefix=VILLAGE_A, kind="members"
    )
    assert [(e["field"], e["reason"]) for e in report.errors] == [("身份证号", ID_NUMBER_REFUSED)]
    taken = homes["other"].number
    households = f"户编号,村代码,户类型\n{taken},{VILLAGE_A},一般农户\n".encode()
    report = registry_import(
        data=households, filename="households.csv", scope_prefix=VILLAGE_A, kind="households"
    )
    reasons = [e["reason"] for e in report.errors]
    assert reasons and all("管辖范围外" not in r and "已登记" not in r for r in reasons), reasons
    assert not homes["mine"].members.exists()
