import hashlib
import ipaddress
import json
import secrets
from datetime import UTC

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import device_secrets
from accounts.choices import ROLE_LEVEL, STATISTICS_LEVELS, AuditAction, Role
from households.choices import RegionLevel

# The fields of an account whose change is audited (accounts.audit.account_changes_record).
ACCOUNT_FIELDS = ("role", "region_id", "is_active", "is_staff", "is_superuser")
WATCHED_FIELDS = frozenset(
    {"role", "region", "region_id", "is_active", "is_staff", "is_superuser", "password"}
)


class User(AbstractUser):
    """用户: a staff member or a department's machine client, bound to one region."""

    role = models.CharField("角色", max_length=24, choices=Role.choices)
    region = models.ForeignKey(
        "households.Region",
        verbose_name="所属区划",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    phone_masked = models.CharField("联系电话", max_length=20, blank=True)
    # 等保: a password expires (accounts/passwords.py sets this whenever one is saved).
    password_changed_at = models.DateTimeField("密码修改时间", default=timezone.now, editable=False)
    # A password someone else set (an administrator, for a new account or a reset) is known
    # to two people: the next sign-in reaches only the change-password page, as after
    # expiry, until its owner sets one of his own (accounts/passwords.py).
    password_change_required = models.BooleanField(
        "下次登录须修改密码", default=False, editable=False
    )
    # 双人复核: an administrator's grant (a new account, a role or region, an activation, a
    # password set for someone else) waits, with the account inactive, until a second
    # person confirms it (accounts/services.py). Empty when nothing waits.
    grant_requested_by = models.ForeignKey(
        "self",
        verbose_name="待复核授权的提交人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    grant_requested_at = models.DateTimeField("授权提交时间", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = verbose_name_plural = "用户"

    @property
    def grant_pending(self) -> bool:
        return self.grant_requested_by_id is not None

    def save(self, *args, **kwargs):
        """Every change of who may do what is an audit event, wherever it is made: the admin
        site, the 管理 pages, a command, the shell. Who made it comes from the request or
        service that is acting (accounts.audit.acting); a command acts as nobody."""
        update_fields = kwargs.get("update_fields")
        watched = update_fields is None or not WATCHED_FIELDS.isdisjoint(update_fields)
        if not watched:  # a sign-in's last_login, a name
            return super().save(*args, **kwargs)
        # set_password() keeps the raw password until the save; a hash upgraded at sign-in
        # is saved with it already cleared, and is no change of password.
        password_set = self._password is not None
        before = None
        if not self._state.adding and self.pk is not None:
            before = type(self).objects.filter(pk=self.pk).values(*ACCOUNT_FIELDS).first()
        with transaction.atomic(using=router.db_for_write(type(self), instance=self)):
            super().save(*args, **kwargs)
            from accounts.audit import account_changes_record

            account_changes_record(self, before=before, password_set=password_set)

    def clean(self):
        super().clean()
        level = ROLE_LEVEL.get(self.role)
        if level is not None:
            if self.region is None:
                raise ValidationError({"region": "该角色必须指定所属区划。"})
            if self.region.level != level:
                expected = RegionLevel(level).label
                message = f"{self.get_role_display()}的所属区划应为{expected}级。"
                raise ValidationError({"region": message})
        if self.role == Role.STATISTICS_VIEWER and (
            self.region is None or self.region.level not in STATISTICS_LEVELS
        ):
            raise ValidationError({"region": "统计查看人的所属区划应为省、市或县级。"})


class SecondFactorDevice(TOTPDevice):
    """动态口令设备: django-otp's TOTP device whose secret is stored sealed
    (accounts/device_secrets.py). The same table; the pages, the sign-in and the admin site
    use this model, and a device saved through django-otp's own model is sealed too
    (`_seal_device_secret`)."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "动态口令设备"

    @property
    def bin_key(self):
        return device_secrets.binary_secret(self.key, self.user_id)


def _seal_device_secret(sender, instance, update_fields=None, **kwargs):
    """Seal a secret before it reaches the table, whichever model saves the device."""
    if device_secrets.is_sealed(instance.key):
        return
    instance.key = device_secrets.seal(instance.key, instance.user_id)
    if update_fields is not None and "key" not in update_fields and instance.pk is not None:
        # A partial save would leave the row's own (plain) value: seal it there too.
        type(instance)._base_manager.filter(pk=instance.pk).update(key=instance.key)


models.signals.pre_save.connect(_seal_device_secret, sender=TOTPDevice)
models.signals.pre_save.connect(_seal_device_secret, sender=SecondFactorDevice)


def _hash_token(raw: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        # A key an administrator issued works once a second person has confirmed it.
        return self.filter(revoked_at__isnull=True, confirmed_at__isnull=False)

    def awaiting_confirmation(self):
        return self.filter(revoked_at__isnull=True, confirmed_at__isnull=True)


class ApiToken(models.Model):
    """接口密钥: a machine client's bearer key. Only its hash is stored; the key is shown once."""

    user = models.ForeignKey(
        User, verbose_name="用户", on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField("用途", max_length=100)
    prefix = models.CharField("密钥前缀", max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField("签发时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True, editable=False)
    issued_by = models.ForeignKey(
        User,
        verbose_name="签发人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    # Empty while the key waits for a second person (双人复核); it does not authenticate.
    confirmed_at = models.DateTimeField("复核启用时间", null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "接口密钥"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.name})"

    @classmethod
    def issue(
        cls, *, user: User, name: str, by: User | None = None, confirmed: bool = True
    ) -> tuple["ApiToken", str]:
        raw = "fp_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=raw[:10],
            key_hash=_hash_token(raw),
            issued_by=by,
            confirmed_at=timezone.now() if confirmed else None,
        )
        return token, raw

    @classmethod
    def find_active(cls, raw: str) -> "ApiToken | None":
        return cls.objects.active().select_related("user").filter(key_hash=_hash_token(raw)).first()

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


# --- the audit log ----------------------------------------------------------------------

GENESIS_HASH = "0" * 64
# 等保 level 3: audit records are kept at least six months. Nothing younger is ever removed
# (`manage.py audit_prune` refuses, and on PostgreSQL so does the table's trigger).
AUDIT_RETENTION_DAYS = 185


class AuditLogIsAppendOnly(Exception):
    """An attempt to change or remove a row of the audit log."""


def _clean_text(value):
    # PostgreSQL refuses NUL in text and in JSON, and lone surrogates cannot be encoded:
    # a sign-in attempt with such a user name must still be recorded, not fail.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_clean_text(str(k)): _clean_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_text(v) for v in value]
    return value


def _canonical_number(value):
    # PostgreSQL's jsonb gives 1e16 back as 10000000000000000: integral floats are hashed
    # as integers, so a row reads back to the content it was hashed with.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_number(v) for v in value]
    return value


def audit_detail_normalised(detail) -> dict:
    """The detail as the database will give it back: JSON types only, clean text."""
    return _clean_text(json.loads(json.dumps(detail or {})))


def audit_content(row: dict) -> str:
    """The canonical text of one row that its hash covers: every field a reader relies on,
    in a fixed form that reads back the same from SQLite and PostgreSQL."""
    at = row["at"]
    if timezone.is_naive(at):
        at = timezone.make_aware(at, UTC)
    ip = row["ip"]
    content = {
        "seq": row["seq"],
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": row["actor_id"],
        "actor_name": row["actor_name"],
        "action": row["action"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "object_label": row["object_label"],
        "reason": row["reason"],
        "detail": _canonical_number(row["detail"]),
        "ip": str(ipaddress.ip_address(ip)) if ip else None,
    }
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def audit_hash(prev_hash: str, row: dict) -> str:
    """sha256 over the previous row's hash and this row's canonical content."""
    text = prev_hash + "\n" + audit_content(row)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


HASHED_FIELDS = (
    "seq",
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
)


class AuditChainHead(models.Model):
    """The head of the audit log's hash chain: one row, locked by every writer, so two
    writers at once never chain to the same row (the chain would fork). It also keeps
    where retention cut the chain: the first kept row chains to `pruned_hash`."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    length = models.BigIntegerField("已写入条数", default=0)
    last_hash = models.CharField("最后一条摘要", max_length=64, default=GENESIS_HASH)
    pruned_through = models.BigIntegerField("已清理至序号", default=0)
    pruned_hash = models.CharField("最后清理一条的摘要", max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = verbose_name_plural = "审计日志链首"

    def __str__(self):
        return f"审计日志链首：{self.length} 条"

    @classmethod
    def locked(cls, using: str) -> "AuditChainHead":
        """The head, locked until the caller's transaction ends. The UPDATE comes first:
        on PostgreSQL it takes the row lock, on SQLite the database's write lock, before
        the head is read — a plain read first could see a head another writer is moving."""
        manager = cls.objects.using(using)
        if not manager.filter(pk=1).update(length=models.F("length")):
            # The migration writes the row; a database flushed by a test has none.
            with transaction.atomic(using=using):
                manager.get_or_create(pk=1)
        return manager.select_for_update().get(pk=1)


class AuditEventQuerySet(models.QuerySet):
    """No bulk path around the chain: rows are added one by one by AuditEvent.save, and
    never changed or removed through the ORM (retention: `manage.py audit_prune`)."""

    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("审计日志只能追加，不能修改")

    def delete(self):
        raise AuditLogIsAppendOnly("审计日志只能追加，不能删除")

    def bulk_create(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("审计日志须逐条写入（accounts.audit.audit_record）")

    def bulk_update(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("审计日志只能追加，不能修改")

    def update_or_create(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("审计日志只能追加，不能修改")


class AuditEvent(models.Model):
    """审计日志: who did what to whom, when, from where, and why.

    Append-only: a row is written once (save refuses a second time, delete refuses, the
    queryset has no update or delete, the admin reads only, and on PostgreSQL a trigger
    refuses UPDATE and DELETE to raw SQL too). Each row carries the hash of the row before
    it and its own (sha256 over that hash and its canonical content), so a changed, removed
    or inserted row breaks the chain, which `manage.py audit_verify` walks."""

    at = models.DateTimeField("时间", default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_name = models.CharField("操作人账号", max_length=150, blank=True)
    action = models.CharField("操作", max_length=24, choices=AuditAction.choices)
    object_type = models.CharField("对象类型", max_length=50, blank=True)
    object_id = models.CharField("对象编号", max_length=64, blank=True)
    object_label = models.CharField(
        "对象", max_length=200, blank=True, help_text="脱敏后的对象描述"
    )
    reason = models.CharField("事由", max_length=300, blank=True)
    detail = models.JSONField("详情", default=dict, blank=True)
    ip = models.GenericIPAddressField("IP 地址", null=True, blank=True)
    seq = models.BigIntegerField("链序号", unique=True, null=True, editable=False)
    prev_hash = models.CharField("前一条摘要", max_length=64, default="", editable=False)
    row_hash = models.CharField("本条摘要", max_length=64, default="", editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "审计日志"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if not self._state.adding or self.seq is not None:
            raise AuditLogIsAppendOnly("审计日志只能追加，不能修改")
        for name, limit in (
            ("actor_name", 150),
            ("object_type", 50),
            ("object_id", 64),
            ("object_label", 200),
            ("reason", 300),
        ):
            setattr(self, name, _clean_text(str(getattr(self, name) or ""))[:limit])
        self.detail = audit_detail_normalised(self.detail)
        try:
            self.ip = str(ipaddress.ip_address(self.ip)) if self.ip else None
        except ValueError:  # a proxy's odd REMOTE_ADDR must not lose the event
            self.ip = None
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            head = AuditChainHead.locked(using)
            self.at = self.at or timezone.now()
            self.seq = head.length + 1
            self.prev_hash = head.last_hash
            self.row_hash = audit_hash(self.prev_hash, self.hashed_fields())
            kwargs["force_insert"] = True
            super().save(*args, **kwargs)
            AuditChainHead.objects.using(using).filter(pk=1).update(
                length=self.seq, last_hash=self.row_hash
            )

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("审计日志只能追加，不能删除")

    def hashed_fields(self) -> dict:
        return {name: getattr(self, name) for name in HASHED_FIELDS}
