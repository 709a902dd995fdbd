from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_record
from accounts.choices import AuditAction
from accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "为用户（通常是行业部门接口账号）签发接口密钥。密钥只显示这一次。"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="接口调用", help="密钥用途")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"用户 {username} 不存在")
        # The operator at the server's console: no administrator's word to be confirmed.
        token, raw = ApiToken.issue(user=user, name=name)
        audit_record(
            actor=None,
            action=AuditAction.TOKEN_ISSUED,
            obj=token,
            detail={"user": username, "via": "manage.py issue_token"},
        )
        self.stdout.write(raw)
