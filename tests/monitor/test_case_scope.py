"""Every case endpoint answers 404 to users of another village, township or county."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.monitor.conftest import PDF

pytestmark = pytest.mark.django_db

OUTSIDERS = ["cadre_b", "cadre_c", "reviewer_2", "approver_other"]


def _endpoints(case_id):
    base = f"/api/cases/{case_id}"
    visit = {"visited_on": "2026-03-02", "visitors": "张", "findings": "情况"}
    return [
        ("get", f"{base}/", None, "json"),
        ("patch", f"{base}/", {"description": "x"}, "json"),
        ("put", f"{base}/", {"category": "unstable"}, "json"),
        ("get", f"{base}/transitions/", None, "json"),
        ("post", f"{base}/transitions/", {"action": "report"}, "json"),
        ("get", f"{base}/home-visits/", None, "json"),
        ("post", f"{base}/home-visits/", visit, "json"),
        ("get", f"{base}/consents/", None, "json"),
        (
            "post",
            f"{base}/consents/",
            {"signed_on": "2026-03-02", "scan": SimpleUploadedFile("a.pdf", PDF)},
            "multipart",
        ),
        ("get", f"{base}/appraisals/", None, "json"),
        ("post", f"{base}/appraisals/", {"held_on": "2026-03-02", "result": "passed"}, "json"),
        ("get", f"{base}/notices/", None, "json"),
        ("post", f"{base}/notices/", {"start_on": "2026-03-02", "end_on": "2026-03-07"}, "json"),
        ("get", f"{base}/monthly-visits/", None, "json"),
        ("post", f"{base}/monthly-visits/", visit, "json"),
        ("get", f"{base}/measures/", None, "json"),
        (
            "post",
            f"{base}/measures/",
            {
                "category": "industry",
                "description": "x",
                "department": "y",
                "start_on": "2026-03-02",
            },
            "json",
        ),
        ("get", f"{base}/aid-plan/", None, "json"),
        ("put", f"{base}/aid-plan/", {"summary": "x"}, "json"),
    ]


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_every_case_endpoint_is_404_outside_the_region(api, draft_case, outsider):
    client = api(outsider)
    for method, url, data, fmt in _endpoints(draft_case.pk):
        response = (
            getattr(client, method)(url, data, format=fmt)
            if data is not None
            else getattr(client, method)(url)
        )
        assert response.status_code == 404, (outsider, method, url, response.status_code)
    assert client.get("/api/cases/").json()["count"] == 0
    assert client.get("/api/measures/").json()["count"] == 0


@pytest.mark.parametrize("insider", ["cadre_a", "reviewer_1", "approver"])
def test_the_case_is_visible_inside_the_region(api, draft_case, insider):
    client = api(insider)
    assert client.get(f"/api/cases/{draft_case.pk}/").status_code == 200
    assert client.get("/api/cases/").json()["count"] == 1


def test_a_cadre_cannot_file_a_case_for_a_household_outside_the_village(api, family):
    response = api("cadre_b").post(
        "/api/cases/",
        {
            "household": family.pk,
            "category": "unstable",
            "channel": "cadre_screening",
            "risk_codes": ["01"],
            "found_on": "2026-03-02",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "household" in response.json()["errors"]
