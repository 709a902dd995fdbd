from django.urls import path

from monitor.pages import adjustments, cases, follow_up, home, identification, review
from monitor.views import notice_list_page

urlpatterns = [
    path("", home.home_page, name="home"),
    path("notifications/", home.notifications_page, name="notifications-page"),
    path(
        "notifications/<int:pk>/read/", home.notification_read_page, name="notification-read-page"
    ),
    path("cases/", cases.case_list_page, name="case-list-page"),
    path("cases/new/", cases.case_new_page, name="case-new-page"),
    path("cases/notice-list/", notice_list_page, name="notice-list-page"),
    path("cases/<int:pk>/", cases.case_page, name="case-page"),
    path("cases/<int:pk>/edit/", cases.case_edit_page, name="case-edit-page"),
    path("cases/<int:pk>/transition/", cases.case_transition_page, name="case-transition-page"),
    path(
        "cases/<int:pk>/evidence/<str:stage>/<str:kind>/",
        cases.case_evidence_page,
        name="case-evidence-page",
    ),
    path(
        "cases/<int:pk>/monthly-visits/",
        cases.case_monthly_visit_page,
        name="case-monthly-visit-page",
    ),
    path(
        "cases/<int:pk>/consents/<int:consent_pk>/scan/",
        cases.consent_scan_page,
        name="consent-scan-page",
    ),
    path("cases/<int:pk>/aid/", cases.case_aid_page, name="case-aid-page"),
    path("cases/<int:pk>/aid/plan/", cases.case_aid_plan_page, name="case-aid-plan-page"),
    path("cases/<int:pk>/aid/measures/", cases.case_measure_new_page, name="case-measure-new-page"),
    path("measures/<int:pk>/", cases.measure_edit_page, name="measure-edit-page"),
    path("cases/<int:pk>/clearance/", cases.case_clearance_page, name="case-clearance-page"),
    path(
        "cases/<int:pk>/adjustments/",
        adjustments.case_adjustment_page,
        name="case-adjustment-page",
    ),
    path("follow-ups/", follow_up.follow_up_list_page, name="follow-up-list-page"),
    path(
        "cases/<int:pk>/follow-up-visits/",
        follow_up.case_follow_up_visit_page,
        name="case-follow-up-visit-page",
    ),
    path(
        "cases/<int:pk>/official-visit/",
        identification.case_official_visit_page,
        name="case-official-visit-page",
    ),
    path("review/", review.review_page, name="review-page"),
    path("review/spot-check/", identification.spot_check_draw_page, name="spot-check-draw-page"),
    path("review/batch/", review.review_batch_page, name="review-batch-page"),
]
