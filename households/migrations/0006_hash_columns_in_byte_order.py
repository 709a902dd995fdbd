"""The keyed hashes and the 户编号 compared byte by byte on PostgreSQL (COLLATE "C").

They are hex digests and digit strings: nothing about them is language, and byte order is the
order every locale gives them. But under a database's libc locale (C.UTF-8, zh_CN.UTF-8,
en_US.UTF-8) PostgreSQL sorts text through strcoll and without abbreviated keys, so building
or filling their btree indexes costs about three times what it does in byte order — the
largest part of rebuilding the member table's indexes after a province's first load, and of
every upsert into them. Equality (hash joins, lookups) is the same either way.

Only the database's columns change: Django's `db_collation` would write COLLATE "C" on
SQLite too, where no collation of that name exists. A later AlterField of one of these fields
would drop it again; tests/households/test_byte_order_columns.py says so if that happens.
"""

from django.db import migrations

COLUMNS = [
    ("households_member", "id_number_hash", "varchar(64)"),
    ("households_member", "phone_hash", "varchar(64)"),
    ("households_household", "number", "varchar(24)"),
]


def _collate(collation: str):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column, kind in COLUMNS:
            schema_editor.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {kind} COLLATE {collation}'
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("households", "0005_drop_member_name_index"),
    ]

    operations = [
        migrations.RunPython(_collate('"C"'), _collate("pg_catalog.default")),
    ]
