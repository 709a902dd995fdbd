from django.urls import path

from monitor.pages import reports

urlpatterns = [
    path("reports/", reports.report_home_page, name="report-home-page"),
    path("reports/monthly/", reports.monthly_list_page, name="monthly-report-list-page"),
    path("reports/monthly/<int:pk>/", reports.monthly_page, name="monthly-report-page"),
    path(
        "reports/monthly/<int:pk>/xlsx/", reports.monthly_xlsx_page, name="monthly-report-xlsx-page"
    ),
    path("reports/<str:code>/", reports.report_page_view, name="report-page"),
]
