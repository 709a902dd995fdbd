from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from households import backup


class Command(BaseCommand):
    help = (
        "从 backup_export 的目录恢复到 DATABASE_URL 所指的空数据库（及 MEDIA_ROOT），"
        "然后逐项核验：每个身份证号、手机号可用环境中的密钥解密，各表行数与备份时一致。"
        "环境中的密钥须与备份时相同，否则不写入任何数据。"
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="backup_export 写出的备份目录")
        parser.add_argument(
            "--verify-only",
            action="store_true",
            help="不恢复，只核验当前数据库与该备份一致且可读",
        )

    def handle(self, *args, folder: Path, verify_only: bool, **options):
        try:
            manifest = backup.read_manifest(folder)
            self.stdout.write(backup.describe(manifest))
            if verify_only:
                backup.check_keys(manifest)
                verified = backup.verify(manifest)
            else:
                verified = backup.restore(folder)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        if verified.problems:
            raise CommandError("核验未通过：\n" + "\n".join(verified.problems[:50]))
        if not verify_only:
            self.stdout.write("已恢复。")
        self.stdout.write(backup.summary(verified))
