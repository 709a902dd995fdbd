from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from households.services import regions_load_csv
from sheets.reading import TabularError, decode_csv_bytes


class Command(BaseCommand):
    help = "导入行政区划：CSV，列为 区划代码,名称（UTF-8 或 GBK）。上级区划须在文件中或已存在。"

    def add_arguments(self, parser):
        parser.add_argument("csv_file", type=Path)

    def handle(self, *args, csv_file: Path, **options):
        try:
            text, _ = decode_csv_bytes(csv_file.read_bytes())
        except (OSError, TabularError) as exc:
            raise CommandError(str(exc)) from exc
        result = regions_load_csv(text=text)
        for error in result["errors"]:
            self.stderr.write(f"第 {error['row']} 行：{error['reason']}")
        self.stdout.write(
            f"行政区划：新增 {result['created']}，更新 {result['updated']}，"
            f"未通过 {len(result['errors'])}"
        )
