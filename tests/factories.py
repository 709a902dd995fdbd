"""Factories for registry objects. ID numbers are generated valid (right check character)."""

import itertools
import random
from datetime import date

import factory

from households import pii
from households.choices import HouseholdKind, Labour, Relation
from households.idnumber import check_character, mask_id_number, mask_phone
from households.models import Household, Member

_sequence = itertools.count(1)


def make_id_number(
    region: str = "630121",
    birth: date = date(1980, 5, 17),
    sequence: int | None = None,
    male: bool = True,
) -> str:
    if sequence is None:
        sequence = next(_sequence) % 500 * 2
    seq = sequence - sequence % 2 + (1 if male else 0)
    first17 = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_character(first17)


def random_id_number(rng: random.Random) -> str:
    birth = date(rng.randint(1940, 2020), rng.randint(1, 12), rng.randint(1, 28))
    return make_id_number(birth=birth, sequence=rng.randint(0, 999))


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    village_id = "630121100201"
    number = factory.LazyAttributeSequence(lambda o, n: f"{o.village_id}{n + 1:05d}")
    kind = HouseholdKind.ORDINARY
    address = factory.Sequence(lambda n: f"大通县某村{n % 9 + 1}社{n}号")


class MemberFactory(factory.django.DjangoModelFactory):
    """Pass `id_number=` for a fixed number; protected columns are filled from it."""

    class Meta:
        model = Member
        exclude = ["id_number", "phone"]

    household = factory.SubFactory(HouseholdFactory)
    name = factory.Sequence(lambda n: f"成员{n}")
    relation = Relation.HEAD
    labour = Labour.ORDINARY
    id_number = factory.LazyFunction(make_id_number)
    phone = ""
    birth_date = factory.LazyAttribute(
        lambda o: date(int(o.id_number[6:10]), int(o.id_number[10:12]), int(o.id_number[12:14]))
    )
    sex = factory.LazyAttribute(lambda o: "M" if int(o.id_number[16]) % 2 else "F")
    id_number_encrypted = factory.LazyAttribute(
        lambda o: pii.encrypt(o.id_number, field="id_number")
    )
    id_number_hash = factory.LazyAttribute(lambda o: pii.id_number_hash(o.id_number))
    id_number_masked = factory.LazyAttribute(lambda o: mask_id_number(o.id_number))
    phone_encrypted = factory.LazyAttribute(
        lambda o: pii.encrypt(o.phone, field="phone") if o.phone else ""
    )
    phone_hash = factory.LazyAttribute(lambda o: pii.phone_hash(o.phone) if o.phone else "")
    phone_masked = factory.LazyAttribute(lambda o: mask_phone(o.phone) if o.phone else "")


def household_on_many_lists(*, village: str, county: str, lists: int, rows: int, sequence: int):
    """A household whose head is named on `lists` department lists of `rows` rows each
    (indicators "第<n>批指标<m>", all different), every list matched: the warnings a household
    on list after list gathers."""
    from accounts.choices import Role
    from accounts.models import User
    from monitor.feeds.intake import receive_json
    from monitor.feeds.matching import process_batch
    from monitor.models import Department
    from monitor.models.feeds import DepartmentKind

    account = User.objects.create_user(
        username=f"dept_lists_{sequence}", password="x", role=Role.DEPARTMENT
    )
    department = Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=county, account=account
    )
    household = HouseholdFactory(village_id=village)
    number = make_id_number(sequence=sequence)
    MemberFactory(household=household, relation="head", id_number=number)
    for batch in range(1, lists + 1):
        listed = [
            {"姓名": "户主", "身份证号": number, "预警类型": f"第{batch}批指标{n:02d}"}
            for n in range(rows)
        ]
        received = receive_json(department=department, batch_key=f"lists{batch}", rows=listed)
        # With committed rows the push's own queued matching may have run it already.
        process_batch(received.batch.pk)
        received.batch.refresh_from_db()
        assert received.batch.status == "done"
    return household
