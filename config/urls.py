from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts.api.views import AuditEventViewSet, MeView
from accounts.forms import LoginForm
from config.exceptions import API_NOT_FOUND_NAME, api_not_found
from households.api import views as household_api
from interventions.api import insurance as insurance_api
from interventions.api import views as interventions_api
from monitor.api import exports as exports_api
from monitor.api import feeds as feeds_api
from monitor.api import follow_up as follow_up_api
from monitor.api import identification as identification_api
from monitor.api import region_policies as region_policies_api
from monitor.api import reports as reports_api
from monitor.api import views as monitor_api
from monitor.pages import identification as identification_pages
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
router.register("dispatch-rounds", feeds_api.DispatchRoundViewSet, basename="dispatch-round")
router.register("screening-runs", feeds_api.ScreeningRunViewSet, basename="screening-run")
router.register("self-applications", feeds_api.SelfApplicationViewSet, basename="self-application")
router.register(
    "self-applications/lookup",
    identification_api.SelfApplicationLookupViewSet,
    basename="self-application-lookup",
)
router.register(
    "cross-check-items", identification_api.CrossCheckItemViewSet, basename="cross-check-item"
)
router.register("announcements", identification_api.AnnouncementViewSet, basename="announcement")
router.register("spot-checks", identification_api.SpotCheckViewSet, basename="spot-check")
router.register("overdue-items", monitor_api.OverdueItemViewSet, basename="overdue-item")
router.register("notifications", monitor_api.NotificationViewSet, basename="notification")
router.register("measures", interventions_api.MeasureRecordViewSet, basename="measure")
router.register("follow-ups", follow_up_api.FollowUpViewSet, basename="follow-up")
router.register(
    "region-policies", region_policies_api.RegionPolicyViewSet, basename="region-policy"
)
router.register(
    "insurance-policies", insurance_api.InsurancePolicyViewSet, basename="insurance-policy"
)
router.register(
    "insurance-enrolments", insurance_api.InsuranceEnrolmentViewSet, basename="insurance-enrolment"
)
router.register("insurance-claims", insurance_api.InsuranceClaimViewSet, basename="insurance-claim")
router.register("reports/monthly", reports_api.MonthlyReportViewSet, basename="monthly-report")
router.register("exports", exports_api.ExportJobViewSet, basename="export")
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
    path("apply/lookup/", identification_pages.self_application_lookup_page, name="apply-lookup"),
    # The web application: one module of routes per area.
    path("", include("accounts.page_urls")),
    path("", include("monitor.pages.urls")),
    path("", include("monitor.pages.report_urls")),
    path("", include("monitor.pages.export_urls")),
    path("", include("households.page_urls")),
    path("", include("monitor.pages.clue_urls")),
    path("", include("interventions.page_urls")),
    path("manage/", include("monitor.pages.administration_urls")),
    path("admin/", admin.site.urls),
    path("api/me/", MeView.as_view(), name="me"),
    path("api/reports/figures/", reports_api.ReportFiguresView.as_view(), name="report-figures"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Last: any other address under /api/ is answered in JSON, not with an HTML page.
    # [\s\S]: a path may hold a newline (%0A), which "." would not match.
    re_path(r"^api/(?P<rest>[\s\S]*)$", api_not_found, name=API_NOT_FOUND_NAME),
]

# Redis or the database unreachable: 503 with the reason in Chinese, not the 500 page.
handler500 = "config.outage.server_error"
handler400 = "config.outage.bad_request"
