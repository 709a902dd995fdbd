"""管理 pages, under /manage/ (config/urls.py)."""

from django.urls import path

from interventions import pages as insurance_pages
from monitor.pages import administration as pages
from monitor.pages import measure_categories, region_policies

urlpatterns = [
    path("", pages.manage_home_page, name="manage-home"),
    path("departments/", pages.department_list_page, name="department-list-page"),
    path("departments/<int:pk>/", pages.department_page, name="department-page"),
    path(
        "departments/<int:pk>/keys/",
        pages.department_key_issue_page,
        name="department-key-issue-page",
    ),
    path(
        "departments/<int:pk>/keys/<int:key_pk>/revoke/",
        pages.department_key_revoke_page,
        name="department-key-revoke-page",
    ),
    path("thresholds/", pages.threshold_list_page, name="threshold-list-page"),
    path("thresholds/<int:pk>/", pages.threshold_page, name="threshold-page"),
    path("thresholds/<int:pk>/delete/", pages.threshold_delete_page, name="threshold-delete-page"),
    path("lines/", pages.line_list_page, name="line-list-page"),
    path("lines/<int:pk>/", pages.line_page, name="line-page"),
    path("lines/<int:pk>/delete/", pages.line_delete_page, name="line-delete-page"),
    path(
        "measure-categories/",
        measure_categories.measure_category_list_page,
        name="measure-category-list-page",
    ),
    path("local-rules/", region_policies.region_policy_list_page, name="region-policy-list-page"),
    path("local-rules/<int:pk>/", region_policies.region_policy_page, name="region-policy-page"),
    path(
        "local-rules/<int:pk>/delete/",
        region_policies.region_policy_delete_page,
        name="region-policy-delete-page",
    ),
    path(
        "insurance/", insurance_pages.insurance_policy_list_page, name="insurance-policy-list-page"
    ),
    path(
        "insurance/<int:pk>/", insurance_pages.insurance_policy_page, name="insurance-policy-page"
    ),
    path(
        "insurance/<int:pk>/enrol/",
        insurance_pages.insurance_policy_enrol_page,
        name="insurance-policy-enrol-page",
    ),
]
