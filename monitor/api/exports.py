"""台账导出 API: ask for a work sheet (202 with the job), follow its progress, download the
file while the link is valid. Views validate input and call one service
(monitor/reports/exports.py); a user sees and fetches only their own exports."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import ExportsWorkSheets
from config.fields import ChoiceLabelField
from config.parsers import SafeJSONParser
from config.schema import ErrorSerializer
from monitor.models import ExportJob
from monitor.reports.exports import (
    XLSX,
    export_download,
    export_file_response,
    export_request,
    exports_for,
)
from monitor.reports.selectors import region_named


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


NOT_SIGNED_IN = _error("未登录或凭据无效")
NOT_FOUND = _error("不存在，或不是您申请的导出")
REQUEST_ERRORS = {
    400: _error(
        "输入有误（台账类型、统计截止日期不能晚于今天或早于2016年、导出完整身份证号"
        "未填理由）：detail 为中文说明，errors 按字段列出原因"
    ),
    401: NOT_SIGNED_IN,
    403: _error("角色无权导出台账（统计查看人等），或无权导出完整身份证号"),
    404: _error("区划不存在，或不在您的管辖范围内"),
    415: _error("请求体不是 JSON"),
    429: _error("排队或生成中的导出任务已达上限，或今日导出完整身份证号的次数已达上限"),
}
DOWNLOAD_ERRORS = {
    401: NOT_SIGNED_IN,
    403: _error("您的角色已无权导出台账"),
    404: NOT_FOUND,
    409: _error("文件尚在生成中，或生成失败（detail 说明原因）"),
    410: _error("下载链接已过期，文件已删除，请重新申请导出"),
}


class ExportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ExportJob.Kind.choices,
        help_text="ledger：监测对象台账；registry：农户成员花名册",
        error_messages={"invalid_choice": "台账类型应为 ledger 或 registry"},
    )
    region = serializers.RegexField(
        r"^[0-9]{12}$",
        required=False,
        allow_blank=True,
        help_text="导出区划代码（12位），须在您的管辖范围内；不填为本人所属区划",
        error_messages={"invalid": "区划代码应为12位数字"},
    )
    as_of = serializers.DateField(
        required=False,
        help_text="统计截止日期（监测对象台账按该日结束时的情况）；不填为今天",
        error_messages={"invalid": "日期格式应为 YYYY-MM-DD"},
    )
    full_ids = serializers.BooleanField(
        required=False,
        default=False,
        help_text="导出完整身份证号、联系电话（须填写理由，留痕备查）；默认脱敏",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="导出完整号码的理由",
    )


class ExportJobSerializer(serializers.ModelSerializer):
    """一次导出：状态、进度与下载地址（完成后、过期前）。"""

    kind_display = ChoiceLabelField(source="get_kind_display")
    region_name = serializers.CharField(source="region.name")
    state_display = ChoiceLabelField(source="get_state_display")
    progress = serializers.SerializerMethodField(help_text="进度百分比（0–100）；总行数未知时为空")
    download_url = serializers.SerializerMethodField(
        help_text="下载地址：生成完成且未过期时给出，否则为空"
    )

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "kind",
            "kind_display",
            "region",
            "region_name",
            "as_of",
            "full_ids",
            "state",
            "state_display",
            "rows_total",
            "rows_done",
            "progress",
            "file_name",
            "size_bytes",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "download_url",
        ]

    def get_progress(self, job) -> int | None:
        if job.state == ExportJob.State.DONE:
            return 100
        if not job.rows_total:
            return None
        return min(100, job.rows_done * 100 // job.rows_total)

    def get_download_url(self, job) -> str | None:
        valid = job.state == ExportJob.State.DONE and (
            job.expires_at is None or job.expires_at > timezone.now()
        )
        url_of = self.context.get("download_url")
        return url_of(job) if valid and url_of is not None else None


@extend_schema_view(
    list=extend_schema(
        summary="我的导出任务（仅本人申请的）",
        responses={
            200: ExportJobSerializer(many=True),
            401: NOT_SIGNED_IN,
            404: _error("页码超出范围"),
        },
    ),
    retrieve=extend_schema(
        summary="导出任务详情：状态、进度、下载地址",
        responses={200: ExportJobSerializer, 401: NOT_SIGNED_IN, 404: NOT_FOUND},
    ),
)
class ExportJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ExportJobSerializer
    parser_classes = [SafeJSONParser]
    # Only the people roles export (`report.export`): any other role is refused at the door,
    # its list and its jobs included, as the export pages refuse it.
    permission_classes = [ExportsWorkSheets]
    filter_backends = []

    def get_queryset(self):
        return exports_for(self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        # The download action's own address, whatever name the router gives this viewset.
        context["download_url"] = lambda job: self.reverse_action("download", args=[job.pk])
        return context

    @extend_schema(
        summary="申请导出台账（监测对象台账或农户成员花名册，Excel）",
        description="按截止日期生成本辖区（或下级区划）的台账，作为后台任务执行，返回 202 与任务；"
        "进度与下载地址见任务详情。身份证号为文本单元格，默认脱敏；导出完整号码须有权限并填写"
        "理由，留痕备查。文件保留期满后删除。",
        request=ExportRequestSerializer,
        responses={202: ExportJobSerializer, **REQUEST_ERRORS},
    )
    def create(self, request):
        payload = ExportRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        job = export_request(
            by=request.user,
            kind=data["kind"],
            region=region_named(request.user, data.get("region")),
            as_of=data.get("as_of") or timezone.localdate(),
            full_ids=data["full_ids"],
            reason=data.get("reason", ""),
            request=request,
        )
        # Re-read: run eagerly (no broker), the job may be done already.
        job = self.get_queryset().get(pk=job.pk)
        serializer = self.get_serializer(job)
        return Response(serializer.data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="下载导出文件（仅申请人，有效期内）",
        responses={
            (200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="Excel 文件"),
            **DOWNLOAD_ERRORS,
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        job, path = export_download(job_id=pk, by=request.user)
        return export_file_response(job, path)
