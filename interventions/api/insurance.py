"""防贫保险 API: policies, enrolments and claims. Views validate the shape of the input, call
one service of interventions/insurance.py (which asks the policy: scope 404, role 403) and
serialise the result. Every list starts from the user's scope."""

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from accounts import policy
from accounts.permissions import READ_REFERENCE, PeopleDataAccess, PolicyFirst
from config.fields import ChoiceLabelField
from config.filters import BooleanFilter, FilterSet, IdFilter
from households.models import Household, Region
from interventions import insurance
from interventions.models import (
    InsuranceClaim,
    InsuranceCoverage,
    InsuranceEnrolment,
    InsurancePolicy,
)

ERRORS = {
    400: OpenApiResponse(description="输入有误：detail 为中文说明，errors 按字段列出原因"),
    403: OpenApiResponse(description="角色无权办理此事项"),
    404: OpenApiResponse(description="不存在，或不在您的管辖范围内"),
}
POLICY_ERRORS = {
    400: OpenApiResponse(
        description="输入有误（触发线须大于 0；同一区划同一年度同一承保机构只能有一份保险；"
        "已有参保农户的保险不能更改投保区划）：detail 为中文说明，errors 按字段列出原因"
    ),
    403: OpenApiResponse(description="角色无权维护防贫保险（限县级审定人和系统管理员）"),
    404: OpenApiResponse(
        description="不存在，或该区划不在您的管辖范围内（县级审定人只能维护本县的防贫保险）"
    ),
}


# --- serializers -------------------------------------------------------------------------------


class InsurancePolicySerializer(serializers.ModelSerializer):
    """防贫保险：投保区划与年度、承保机构、保障对象、理赔触发线（人均纯收入，元/人·年）。"""

    region = serializers.PrimaryKeyRelatedField(
        queryset=Region.objects.all(), help_text="投保区划代码（县或市）"
    )
    region_name = serializers.CharField(source="region.name", read_only=True)
    year = serializers.IntegerField(help_text="年度")
    coverage = serializers.ChoiceField(choices=InsuranceCoverage.choices, help_text="保障对象")
    coverage_display = ChoiceLabelField(source="get_coverage_display")
    # Shape only: the rules (greater than zero, two decimals) are the service's, answered
    # in the same words as the pages.
    trigger_line = serializers.CharField(help_text="理赔触发线（元/人·年），大于 0")
    premium_per_person = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="保费（元/人·年），可不填"
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)
    enrolled = serializers.IntegerField(read_only=True, default=0, help_text="参保户数")

    class Meta:
        model = InsurancePolicy
        fields = [
            "id",
            "region",
            "region_name",
            "year",
            "insurer",
            "coverage",
            "coverage_display",
            "trigger_line",
            "premium_per_person",
            "note",
            "enrolled",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        validators = []

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["trigger_line"] = f"{instance.trigger_line:.2f}"
        premium = instance.premium_per_person
        data["premium_per_person"] = None if premium is None else f"{premium:.2f}"
        return data


class EnrolRequestSerializer(serializers.Serializer):
    enrolled_on = serializers.DateField(required=False, help_text="参保日期，不填为今天")


class EnrolResultSerializer(serializers.Serializer):
    enrolled = serializers.IntegerField(help_text="本次新增参保户数（已参保的户不重复登记）")


class InsuranceEnrolmentSerializer(serializers.ModelSerializer):
    """参保记录：一户参加一份防贫保险。"""

    policy = serializers.PrimaryKeyRelatedField(
        queryset=InsurancePolicy.objects.none(), help_text="防贫保险ID"
    )
    household = serializers.PrimaryKeyRelatedField(
        queryset=Household.objects.none(), help_text="农户ID"
    )
    household_number = serializers.CharField(source="household.number", read_only=True)
    village_name = serializers.CharField(source="household.village.name", read_only=True)
    policy_year = serializers.IntegerField(source="policy.year", read_only=True)
    insurer = serializers.CharField(source="policy.insurer", read_only=True)
    enrolled_on = serializers.DateField(required=False, help_text="参保日期，不填为今天")

    class Meta:
        model = InsuranceEnrolment
        fields = [
            "id",
            "policy",
            "policy_year",
            "insurer",
            "household",
            "household_number",
            "village_name",
            "enrolled_on",
            "recorded_at",
        ]
        read_only_fields = ["recorded_at"]
        validators = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            # Looked up in the user's scope: ids from elsewhere are simply unknown.
            self.fields["household"].queryset = Household.objects.visible_to(request.user)
            self.fields["policy"].queryset = insurance.insurance_policies_for(request.user)


class InsuranceClaimSerializer(serializers.ModelSerializer):
    """理赔：报案日期、原因；赔付后有赔付金额和日期。"""

    enrolment = serializers.PrimaryKeyRelatedField(
        queryset=InsuranceEnrolment.objects.none(), help_text="参保记录ID"
    )
    household = serializers.IntegerField(source="enrolment.household_id", read_only=True)
    household_number = serializers.CharField(source="enrolment.household.number", read_only=True)
    policy = serializers.IntegerField(source="enrolment.policy_id", read_only=True)
    insurer = serializers.CharField(source="enrolment.policy.insurer", read_only=True)
    reason = serializers.CharField(max_length=300, help_text="理赔原因")
    amount_paid = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="赔付金额（元）；已赔付时与赔付日期同时填写",
    )
    paid_on = serializers.DateField(required=False, allow_null=True, help_text="赔付日期")
    is_paid = serializers.SerializerMethodField(help_text="是否已赔付")

    class Meta:
        model = InsuranceClaim
        fields = [
            "id",
            "enrolment",
            "household",
            "household_number",
            "policy",
            "insurer",
            "claimed_on",
            "reason",
            "amount_paid",
            "paid_on",
            "is_paid",
            "recorded_at",
        ]
        read_only_fields = ["recorded_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["enrolment"].queryset = insurance.enrolments_for(request.user)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        amount = instance.amount_paid
        data["amount_paid"] = None if amount is None else f"{amount:.2f}"
        return data

    def get_is_paid(self, claim) -> bool:
        return claim.paid_on is not None


class ClaimPaySerializer(serializers.Serializer):
    amount_paid = serializers.CharField(help_text="赔付金额（元），不小于 0")
    paid_on = serializers.DateField(help_text="赔付日期，不晚于今天、不早于报案日期")


# --- filters and views -----------------------------------------------------------------------


class PolicyFilter(FilterSet):
    year = IdFilter(field_name="year", max_value=32767, label="年度")
    region = django_filters.CharFilter(field_name="region_id", label="投保区划代码")
    coverage = django_filters.ChoiceFilter(choices=InsuranceCoverage.choices, label="保障对象")


class EnrolmentFilter(FilterSet):
    policy = IdFilter(field_name="policy_id", label="防贫保险ID")
    household = IdFilter(field_name="household_id", label="农户ID")


class ClaimFilter(FilterSet):
    enrolment = IdFilter(field_name="enrolment_id", label="参保记录ID")
    household = IdFilter(field_name="enrolment__household_id", label="农户ID")
    paid = BooleanFilter(
        field_name="paid_on", lookup_expr="isnull", exclude=True, label="是否已赔付"
    )


class ManagesInsurance(BasePermission):
    """Reads for every role but the auditor (`reference.read`; each sees the policies of
    their region); enrolling households for the people roles (`insurance.enrol`); other
    writes for the roles the policy names for `insurance.manage`. Which policies a writer
    may touch the view asks the policy with the record itself (PolicyFirst): outside the
    region it is a 404."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            rule = READ_REFERENCE
        elif getattr(view, "action", None) == "enrol_all":
            rule = insurance.INSURANCE_ENROL
        else:
            rule = insurance.INSURANCE_MANAGE
        decision = policy.decide(request.user, rule)
        self.message = decision.reason
        return decision.allowed


@extend_schema_view(
    list=extend_schema(
        summary="防贫保险列表（本人管辖或覆盖本辖区的保险）",
        responses={200: InsurancePolicySerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        summary="防贫保险详情", responses={200: InsurancePolicySerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="新增防贫保险（县级审定人限本县，系统管理员不限）",
        responses={201: InsurancePolicySerializer, **POLICY_ERRORS},
    ),
    update=extend_schema(
        summary="修改防贫保险（全部字段）",
        responses={200: InsurancePolicySerializer, **POLICY_ERRORS},
    ),
    partial_update=extend_schema(
        summary="修改防贫保险", responses={200: InsurancePolicySerializer, **POLICY_ERRORS}
    ),
)
class InsurancePolicyViewSet(
    PolicyFirst, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    serializer_class = InsurancePolicySerializer
    permission_classes = [ManagesInsurance]
    # A policy the user reads but does not keep (a province's, seen from a county) is a 404
    # to its writes, before the body is read.
    policy_actions = dict.fromkeys(("update", "partial_update"), insurance.INSURANCE_MANAGE)
    filterset_class = PolicyFilter

    def get_queryset(self):
        return insurance.insurance_policies_for(self.request.user)

    def _save(self, serializer, record=None):
        data = serializer.validated_data
        current = (lambda name: getattr(record, name)) if record else (lambda name: None)
        saved = insurance.insurance_policy_save(
            by=self.request.user,
            insurance_policy=record,
            region=data.get("region", current("region")),
            year=data.get("year", current("year")),
            insurer=data.get("insurer", current("insurer")),
            coverage=data.get("coverage", current("coverage")),
            trigger_line=data.get("trigger_line", current("trigger_line")),
            premium_per_person=data.get("premium_per_person", current("premium_per_person")),
            note=data.get("note", current("note") or ""),
        )
        serializer.instance = self.get_queryset().get(pk=saved.pk)

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    @extend_schema(
        summary="全部参保：本保险投保区划内（且在您辖区内）符合保障对象的农户一次登记参保",
        request=EnrolRequestSerializer,
        responses={200: EnrolResultSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="enrol-all")
    def enrol_all(self, request, pk=None):
        record = self.get_object()
        payload = EnrolRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        added = insurance.insurance_enrol(
            policy=record, by=request.user, enrolled_on=payload.validated_data.get("enrolled_on")
        )
        return Response({"enrolled": added})


@extend_schema_view(
    list=extend_schema(
        summary="防贫保险参保记录（本人管辖范围）",
        responses={200: InsuranceEnrolmentSerializer(many=True), 403: ERRORS[403]},
    ),
    retrieve=extend_schema(
        summary="参保记录详情", responses={200: InsuranceEnrolmentSerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="登记一户参保（须在保险的投保区划内且属于保障对象）",
        responses={201: InsuranceEnrolmentSerializer, **ERRORS},
    ),
)
class InsuranceEnrolmentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = InsuranceEnrolmentSerializer
    permission_classes = [PeopleDataAccess]
    # Enrolment is every people role's (the policy's answer), not only the registry's keepers.
    read_only_actions = ("create",)
    filterset_class = EnrolmentFilter

    def get_queryset(self):
        return insurance.enrolments_for(self.request.user).order_by("-policy__year", "id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        insurance.insurance_enrol(
            policy=data["policy"],
            by=self.request.user,
            household=data["household"],
            enrolled_on=data.get("enrolled_on"),
        )
        serializer.instance = self.get_queryset().get(
            policy=data["policy"], household=data["household"]
        )


@extend_schema_view(
    list=extend_schema(
        summary="防贫保险理赔（本人管辖范围）",
        responses={200: InsuranceClaimSerializer(many=True), 403: ERRORS[403]},
    ),
    retrieve=extend_schema(
        summary="理赔详情", responses={200: InsuranceClaimSerializer, 404: ERRORS[404]}
    ),
    create=extend_schema(
        summary="登记理赔报案（乡镇、县级）；赔付金额和日期可同时填写",
        responses={201: InsuranceClaimSerializer, **ERRORS},
    ),
)
class InsuranceClaimViewSet(PolicyFirst, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = InsuranceClaimSerializer
    permission_classes = [PeopleDataAccess]
    # The service asks the policy (`insurance.claim`: township and county); the view asks it
    # first, so a village cadre is refused for the role whatever the body.
    read_only_actions = ("create", "pay")
    policy_actions = dict.fromkeys(("create", "pay"), insurance.INSURANCE_CLAIM)
    filterset_class = ClaimFilter

    def policy_target(self, claim):
        # `insurance.claim` is judged on the household the claim is for.
        return claim.enrolment.household

    def get_queryset(self):
        return insurance.claims_for(self.request.user).order_by("-claimed_on", "-id")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        claim = insurance.insurance_claim_record(by=self.request.user, **data)
        serializer.instance = self.get_queryset().get(pk=claim.pk)

    @extend_schema(
        summary="登记赔付（金额不小于 0，日期不晚于今天、不早于报案日期；只能赔付一次）",
        request=ClaimPaySerializer,
        responses={200: InsuranceClaimSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        claim = self.get_object()
        payload = ClaimPaySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        insurance.insurance_claim_pay(claim=claim, by=request.user, **payload.validated_data)
        fresh = self.get_queryset().get(pk=claim.pk)
        return Response(InsuranceClaimSerializer(fresh).data, status=status.HTTP_200_OK)
