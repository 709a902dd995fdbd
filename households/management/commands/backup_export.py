from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from households import backup


class Command(BaseCommand):
    help = (
        "备份 PostgreSQL 数据库：pg_dump（自定义格式，同一快照）、承诺授权扫描件和清单"
        "写入一个新目录。个人信息密钥不在备份中，须另行保管；恢复用 backup_restore。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "folder",
            type=Path,
            nargs="?",
            help="新的备份目录（默认 var/backups/<时间>）",
        )

    def handle(self, *args, folder: Path | None, **options):
        if folder is None:
            stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
            folder = Path(settings.VAR_DIR) / "backups" / stamp
        try:
            manifest = backup.export(folder)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"已备份到 {folder}：{backup.describe(manifest)}")
        if manifest["scans_missing"]:
            self.stderr.write(
                f"注意：{len(manifest['scans_missing'])} 个扫描件在库中有记录但文件缺失："
                + "，".join(manifest["scans_missing"][:10])
            )
        self.stdout.write(
            "个人信息密钥（PII_ENCRYPTION_KEY、PII_HMAC_KEY）不在备份中，请另行保管。"
        )
