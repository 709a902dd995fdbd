from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User


class MeSerializer(serializers.ModelSerializer):
    role_display = serializers.CharField(source="get_role_display")
    region_name = serializers.CharField(source="region.name", default=None)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "role",
            "role_display",
            "region",
            "region_name",
            "department",
        ]


class MeView(APIView):
    @extend_schema(summary="当前用户", responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
