"""Clue and department-batch pages (included at the site root). The names end in -page:
the API's router already names clue-list, clue-detail, clue-verify, clue-accept …"""

from django.urls import path

from monitor.pages import clues

urlpatterns = [
    path("clues/", clues.clue_list_page, name="clue-list-page"),
    path("clues/<int:pk>/", clues.clue_page, name="clue-page"),
    path("clues/<int:pk>/verify/", clues.clue_verify_page, name="clue-verify-page"),
    path("clues/<int:pk>/accept/", clues.clue_accept_page, name="clue-accept-page"),
    path("clues/<int:pk>/dispatch/", clues.clue_dispatch_page, name="clue-dispatch-page"),
    path(
        "clues/<int:pk>/reveal-applicant/",
        clues.clue_reveal_applicant_page,
        name="clue-reveal-applicant-page",
    ),
    path("batches/", clues.batch_list_page, name="batch-list-page"),
    path("batches/<int:pk>/", clues.batch_page, name="batch-page"),
    path("batches/screening/", clues.screening_run_page, name="screening-run-page"),
    path("batches/<int:pk>/status/", clues.batch_status_page, name="batch-status-page"),
    path("rounds/", clues.round_list_page, name="round-list-page"),
    path("rounds/<int:pk>/", clues.round_page, name="round-page"),
    path("rounds/<int:pk>/dispatch/", clues.round_dispatch_page, name="round-dispatch-page"),
]
