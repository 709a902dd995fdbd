"""The hash and 户编号 columns stay in byte order on PostgreSQL (households migration 0006):
an AlterField of one of them would silently give the collation back to the database's
locale, and a province's load its threefold index cost."""

import pytest
from django.db import connection

from households.models import Household, Member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BYTE_ORDER = [
    (Member, "id_number_hash"),
    (Member, "phone_hash"),
    (Household, "number"),
]


@pytest.mark.parametrize(("model", "field"), BYTE_ORDER)
def test_the_column_and_its_indexes_compare_bytes(model, field):
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = %s",
            [table, column],
        )
        assert cursor.fetchone() == ("C",)
        # Every index over the column was built with the column's collation.
        cursor.execute(
            "SELECT DISTINCT co.collname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "JOIN pg_collation co ON co.oid = ANY(i.indcollation::oid[]) "
            "WHERE i.indrelid = %s::regclass AND a.attname = %s AND i.indnatts = 1",
            [table, column],
        )
        assert cursor.fetchall() == [("C",)]


def test_lookups_and_order_are_unchanged(family):
    """Hex digests and digit strings sort the same in every locale; lookups by an
    uncollated parameter or another table's column still work."""
    member = Member.objects.first()
    assert Member.objects.filter(id_number_hash=member.id_number_hash).get() == member
    numbers = list(Household.objects.order_by("number").values_list("number", flat=True))
    assert numbers == sorted(numbers)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE probe (id_hash text); INSERT INTO probe VALUES (%s)",
            [member.id_number_hash],
        )
        cursor.execute(
            "SELECT m.id FROM households_member m JOIN probe p ON p.id_hash = m.id_number_hash"
        )
        assert cursor.fetchall() == [(member.pk,)]
