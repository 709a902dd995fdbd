from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts.api.views import AuditEventViewSet, MeView
from accounts.forms import LoginForm
from households.api import views as household_api
from interventions.api import views as interventions_api
from monitor.api import feeds as feeds_api
from monitor.api import views as monitor_api
from monitor.views import self_application_page

router = DefaultRouter()
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("regions", household_api.RegionViewSet, basename="region")
router.register("households", household_api.HouseholdViewSet, basename="household")
router.register("members", household_api.MemberViewSet, basename="member")
router.register("income-records", household_api.IncomeRecordViewSet, basename="income-record")
router.register("monitoring-lines", household_api.MonitoringLineViewSet, basename="monitoring-line")
router.register("registry-imports", household_api.RegistryImportViewSet, basename="registry-import")

router.register("cases", monitor_api.CaseViewSet, basename="case")
router.register("feeds/batches", feeds_api.WarningBatchViewSet, basename="warning-batch")
router.register("clues", feeds_api.ClueViewSet, basename="clue")
router.register("screening-runs", feeds_api.ScreeningRunViewSet, basename="screening-run")
router.register("self-applications", feeds_api.SelfApplicationViewSet, basename="self-application")
router.register("overdue-items", monitor_api.OverdueItemViewSet, basename="overdue-item")
router.register("notifications", monitor_api.NotificationViewSet, basename="notification")
router.register("measures", interventions_api.MeasureRecordViewSet, basename="measure")
router.register(
    "measure-categories", interventions_api.MeasureCategoryViewSet, basename="measure-category"
)

admin.site.site_header = "防止返贫监测系统管理"
admin.site.site_title = "防返贫监测"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("apply/", self_application_page, name="self-application"),
    # The web application: one module of routes per area.
    path("", include("accounts.page_urls")),
    path("", include("monitor.pages.urls")),
    path("", include("households.page_urls")),
    path("", include("monitor.pages.clue_urls")),
    path("manage/", include("monitor.pages.administration_urls")),
    path("admin/", admin.site.urls),
    path("api/me/", MeView.as_view(), name="me"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
