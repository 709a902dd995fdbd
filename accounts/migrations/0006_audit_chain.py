# Issue 11 (等保 level 3): the audit log becomes a hash chain that only grows, and accounts
# and keys an administrator grants wait for a second person.
#
# - AuditEvent gains its place in the chain (seq), the previous row's hash and its own;
#   rows already written are chained here in the order they were written (id).
# - AuditChainHead: the one row every writer locks, with where retention cut the chain.
# - On PostgreSQL a trigger refuses UPDATE and DELETE on the audit table, to raw SQL too;
#   the one DELETE it lets through is `manage.py audit_prune` removing rows older than
#   the 185 days of retention (it sets fanpin.audit_prune for its transaction).
# - User: the grant that waits for a second person; ApiToken: who issued it and when it was
#   confirmed (keys issued before this migration count as confirmed).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('fanpin.audit_prune', true) = 'on'
       AND OLD.at < now() - interval '185 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '审计日志只能追加，不能修改或删除（%）', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER accounts_auditevent_append_only
BEFORE UPDATE OR DELETE ON accounts_auditevent
FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""


def chain_existing_rows(apps, schema_editor):
    from accounts.models import GENESIS_HASH, audit_hash

    AuditEvent = apps.get_model("accounts", "AuditEvent")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    ApiToken = apps.get_model("accounts", "ApiToken")
    using = schema_editor.connection.alias
    fields = [
        "id",
        "at",
        "actor_id",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "reason",
        "detail",
        "ip",
    ]
    prev, seq = GENESIS_HASH, 0
    for row in AuditEvent.objects.using(using).order_by("id").values(*fields).iterator():
        seq += 1
        row_hash = audit_hash(prev, {**row, "seq": seq})
        AuditEvent.objects.using(using).filter(pk=row["id"]).update(
            seq=seq, prev_hash=prev, row_hash=row_hash
        )
        prev = row_hash
    AuditChainHead.objects.using(using).update_or_create(
        pk=1, defaults={"length": seq, "last_hash": prev}
    )
    ApiToken.objects.using(using).filter(confirmed_at__isnull=True).update(
        confirmed_at=models.F("created_at")
    )


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No parameters: the function's own % is PL/pgSQL's, not a placeholder.
        schema_editor.execute(TRIGGER_FUNCTION, params=None)
        schema_editor.execute(TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_statistics_viewer"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="grant_requested_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="待复核授权的提交人",
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="grant_requested_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="授权提交时间"
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="issued_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="签发人",
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="confirmed_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="复核启用时间"
            ),
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("length", models.BigIntegerField(default=0, verbose_name="已写入条数")),
                (
                    "last_hash",
                    models.CharField(
                        default="0000000000000000000000000000000000000000000000000000000000000000",
                        max_length=64,
                        verbose_name="最后一条摘要",
                    ),
                ),
                ("pruned_through", models.BigIntegerField(default=0, verbose_name="已清理至序号")),
                (
                    "pruned_hash",
                    models.CharField(
                        default="0000000000000000000000000000000000000000000000000000000000000000",
                        max_length=64,
                        verbose_name="最后清理一条的摘要",
                    ),
                ),
            ],
            options={
                "verbose_name": "审计日志链首",
                "verbose_name_plural": "审计日志链首",
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(
                editable=False, null=True, unique=True, verbose_name="链序号"
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="前一条摘要"
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="row_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="本条摘要"
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("login", "登录"),
                    ("login_failed", "登录失败"),
                    ("logout", "退出"),
                    ("reveal_pii", "查看完整个人信息"),
                    ("import", "导入数据"),
                    ("create", "新增"),
                    ("update", "修改"),
                    ("delete", "删除"),
                    ("token_issued", "签发接口密钥"),
                    ("token_revoked", "吊销接口密钥"),
                    ("token_confirmed", "复核启用接口密钥"),
                    ("spot_check.draw", "县级抽查抽取"),
                    ("export", "导出台账"),
                    ("account.create", "新建账号"),
                    ("account.role", "变更角色"),
                    ("account.region", "变更所属区划"),
                    ("account.activate", "启用账号"),
                    ("account.deactivate", "停用账号"),
                    ("account.privilege", "变更后台权限"),
                    ("account.password", "设置密码"),
                    ("account.grant_request", "提交授权待复核"),
                    ("account.grant_confirm", "复核通过授权"),
                    ("transition", "流程操作"),
                    ("audit.prune", "清理过期审计日志"),
                ],
                max_length=24,
                verbose_name="操作",
            ),
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
