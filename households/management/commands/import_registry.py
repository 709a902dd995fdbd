from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from households.importing import COMMAND_MAX_BYTES, registry_import_file
from households.models import RegistryImport
from sheets.reading import TabularError


class Command(BaseCommand):
    help = (
        "导入农户或家庭成员登记表（CSV/XLSX，UTF-8 或 GBK）。先导入农户表，再导入成员表；"
        "重复导入只更新不重复。全省的大文件（数百 MB）也可直接导入：在 PostgreSQL 上分块读取、"
        "多核校验加密后整批写入，网页上传的大小上限不适用于此命令。"
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument(
            "--kind", choices=RegistryImport.Kind.values, help="不填则按表头自动判断"
        )
        parser.add_argument("--max-errors-shown", type=int, default=50)
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=COMMAND_MAX_BYTES,
            help="单个文件的大小上限（字节），默认 8 GB",
        )

    def handle(self, *args, files, kind, max_errors_shown, max_bytes, **options):
        failed = False
        for path in files:
            try:
                record = registry_import_file(path=path, kind=kind, max_bytes=max_bytes)
            except (OSError, TabularError) as exc:
                self.stderr.write(f"{path.name}：{exc}")
                failed = True
                continue
            self.stdout.write(
                f"{path.name}（{record.get_kind_display()}）：共 {record.rows_total} 行，新增 "
                f"{record.rows_created}，更新 {record.rows_updated}，未通过 {record.rows_rejected}"
            )
            for error in record.errors[:max_errors_shown]:
                self.stderr.write(f"  第 {error['row']} 行 {error['field']}：{error['reason']}")
        if failed:
            raise CommandError("部分文件无法读取")
