"""防贫保险 pages of a household (the county's policies are under /manage/, see
monitor/pages/administration_urls.py)."""

from django.urls import path

from interventions import pages

urlpatterns = [
    path(
        "households/<int:pk>/insurance/enrol/",
        pages.household_insurance_enrol_page,
        name="household-insurance-enrol-page",
    ),
    path(
        "households/<int:pk>/insurance/claims/",
        pages.household_insurance_claim_page,
        name="household-insurance-claim-page",
    ),
    path(
        "insurance-claims/<int:pk>/pay/",
        pages.insurance_claim_pay_page,
        name="insurance-claim-pay-page",
    ),
]
