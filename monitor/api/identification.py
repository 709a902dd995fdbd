"""API of identification as the counties do it: the negative list's items (信息比对事项),
announcements (公告), the county's spot check (县级抽查) and the self-applicant's lookup of
the result (查询办理结果). The cross-check records of a case are under /api/cases/{id}/."""

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from accounts import policy
from accounts.permissions import PeopleDataAccess, ReadsReferenceData
from config.filters import FilterSet
from monitor.api.serializers import AnnouncementSerializer, CrossCheckItemSerializer
from monitor.api.views import ERRORS
from monitor.choices import Stage
from monitor.feeds.applications import NOT_FOUND, LookupProgress, self_application_lookup
from monitor.identification import (
    ITEM_MANAGE,
    announcements_for,
    cross_check_item_save,
    spot_check_draw,
)
from monitor.models import Announcement, CrossCheckItem


class ManagesCrossCheckItems(BasePermission):
    message = "仅系统管理员可维护信息比对事项。"

    def has_permission(self, request, view):
        return policy.allows(request.user, ITEM_MANAGE)


@extend_schema_view(
    list=extend_schema(summary="信息比对事项（负面清单）"),
    retrieve=extend_schema(summary="信息比对事项"),
    create=extend_schema(
        summary="新增信息比对事项（系统管理员）",
        responses={201: CrossCheckItemSerializer, 400: ERRORS[400], 403: ERRORS[403]},
    ),
    partial_update=extend_schema(
        summary="修改信息比对事项（名称、说明、启用、排序；系统管理员）",
        responses={
            200: CrossCheckItemSerializer,
            400: ERRORS[400],
            403: ERRORS[403],
            404: ERRORS[404],
        },
    ),
)
class CrossCheckItemViewSet(viewsets.ModelViewSet):
    """The negative list is data: every role but the auditor reads it, the administrator
    keeps it (an item is stopped, never deleted: findings refer to it)."""

    serializer_class = CrossCheckItemSerializer
    queryset = CrossCheckItem.objects.all()
    http_method_names = ["get", "post", "patch", "head", "options"]
    pagination_class = None

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [ReadsReferenceData()]
        return [ManagesCrossCheckItems()]

    def perform_create(self, serializer):
        serializer.instance = cross_check_item_save(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = cross_check_item_save(
            by=self.request.user, item=serializer.instance, **serializer.validated_data
        )


class AnnouncementFilter(FilterSet):
    stage = django_filters.ChoiceFilter(choices=Stage.choices, label="阶段")
    announced_from = django_filters.DateFilter(
        field_name="announced_on", lookup_expr="gte", label="公告日期起"
    )
    announced_to = django_filters.DateFilter(
        field_name="announced_on", lookup_expr="lte", label="公告日期止"
    )

    class Meta:
        model = Announcement
        fields = ["stage", "announced_from", "announced_to"]


@extend_schema_view(
    list=extend_schema(
        summary="公告（县级审定纳入监测、风险消除；本人管辖范围）",
        responses={
            200: AnnouncementSerializer(many=True),
            400: ERRORS[400],
            403: ERRORS[403],
        },
    ),
    retrieve=extend_schema(
        summary="公告", responses={200: AnnouncementSerializer, 404: ERRORS[404]}
    ),
)
class AnnouncementViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AnnouncementSerializer
    permission_classes = [PeopleDataAccess]
    filterset_class = AnnouncementFilter

    def get_queryset(self):
        return announcements_for(self.request.user).order_by("-announced_on", "-id")


class SpotCheckResultSerializer(serializers.Serializer):
    percent = serializers.IntegerField(help_text="本县抽查比例（%）")
    candidates = serializers.IntegerField(
        help_text="可抽取的案例数（村级已上报、乡镇已审核，未抽过）"
    )
    drawn = serializers.IntegerField(help_text="本次抽中的案例数（向上取整）")
    case_ids = serializers.ListField(child=serializers.IntegerField(), help_text="抽中的案例ID")


class SpotCheckViewSet(viewsets.GenericViewSet):
    """县级抽查: the county approver draws the county's sample of reported cases."""

    permission_classes = [PeopleDataAccess]
    # The policy decides who draws (the service asks it): county approvers only.
    read_only_actions = ("create",)
    serializer_class = SpotCheckResultSerializer

    @extend_schema(
        summary="县级抽查：按本县比例随机抽取待审定案例（县级审定人）",
        request=None,
        responses={200: SpotCheckResultSerializer, 403: ERRORS[403]},
    )
    def create(self, request):
        result = spot_check_draw(by=request.user)
        return Response(SpotCheckResultSerializer(result).data, status=status.HTTP_200_OK)


class LookupRequestSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=40, help_text="受理编号，如 SQ20261129012345")
    phone = serializers.CharField(max_length=30, help_text="申报时填写的手机号")


class LookupAnswerSerializer(serializers.Serializer):
    reference = serializers.CharField()
    progress = serializers.ChoiceField(choices=LookupProgress.choices)
    progress_display = serializers.CharField()
    announced_on = serializers.DateField(allow_null=True, help_text="纳入监测的公告日期")
    message = serializers.CharField()


class LookupThrottle(AnonRateThrottle):
    """The same allowance per client address as the application itself."""

    scope = "self_application_lookup"
    rate = "10/hour"


class SelfApplicationLookupViewSet(viewsets.GenericViewSet):
    """Public: no login. The answer says where the application stands and nothing
    personal; an unknown reference and a wrong phone get the same answer."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [LookupThrottle]
    serializer_class = LookupRequestSerializer

    @extend_schema(
        summary="农户查询申报办理结果（受理编号＋手机号；无需登录，按来源限流）",
        request=LookupRequestSerializer,
        responses={
            200: LookupAnswerSerializer,
            400: OpenApiResponse(description="受理编号或手机号格式有误"),
            404: OpenApiResponse(
                description="未查到：受理编号不存在，或与手机号不符（两者回答相同）"
            ),
            429: OpenApiResponse(description="查询过于频繁"),
        },
    )
    def create(self, request):
        payload = LookupRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        answer = self_application_lookup(**payload.validated_data)
        if answer is None:
            return Response({"detail": NOT_FOUND}, status=status.HTTP_404_NOT_FOUND)
        return Response(LookupAnswerSerializer(answer).data)
