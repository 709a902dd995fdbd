from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_prune
from accounts.models import AUDIT_RETENTION_DAYS


class Command(BaseCommand):
    help = (
        f"清理超过保存期的审计日志（至少保存 {AUDIT_RETENTION_DAYS} 天）。只从链首起连续清理，"
        "并在链首记录最后清理一条的摘要，其余记录仍可用 audit_verify 校验；清理本身记入审计日志。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=AUDIT_RETENTION_DAYS,
            help=f"清理早于该天数的记录（不少于 {AUDIT_RETENTION_DAYS}）",
        )

    def handle(self, *args, older_than_days, **options):
        try:
            removed = audit_prune(older_than_days=older_than_days)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"已清理 {removed} 条超过 {older_than_days} 天的审计日志。")
