from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_verify


class Command(BaseCommand):
    help = (
        "校验审计日志的哈希链：逐条核对序号连续、前一条摘要相符、内容与本条摘要相符，"
        "报告第一条不符的记录（退出码非零）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help="数据库别名（默认：审计日志所在库）")

    def handle(self, *args, database=None, **options):
        report = audit_verify(using=database)
        if report.broken is not None:
            raise CommandError(
                f"审计日志哈希链断裂：{report.broken}。此前 {report.checked} 条校验通过。"
            )
        if report.checked == 0:
            self.stdout.write("审计日志为空，哈希链完整。")
            return
        self.stdout.write(
            f"审计日志哈希链完整：第 {report.first_seq} 至 {report.last_seq} 条，"
            f"共 {report.checked} 条；链尾摘要 {report.last_hash}"
        )
