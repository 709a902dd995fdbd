"""The list pages and each people role's home page run a fixed number of queries, however
many rows they show: each is measured with one row of every kind in scope, then again with
three, and must run the pinned number both times.

A row of every kind: a case in each state a queue or a review group shows (with its risk
and deadlines), its household with a head, a registered household's own application (a clue
the township accepts, or, accepted, one the village verifies), and a notification to each
role. Everything is in 东关村, so the village cadre, the township reviewer and the county
approver all see all of it."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitor.choices import Category, Channel, NotificationKind, Status
from monitor.feeds.applications import self_application_submit
from monitor.feeds.clues import clue_accept
from monitor.models import Case, Notification
from monitor.services import case_create
from tests.conftest import COUNTY, TOWNSHIP_1, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
# Found two months ago: the village's verification deadline has passed, so the cases are
# overdue and the home pages list their overdue steps too.
FOUND = TODAY - timedelta(days=60)
# One case in each state some queue or review group lists.
STATES = [
    Status.DRAFT,
    Status.REPORTED,
    Status.TOWNSHIP_APPROVED,
    Status.MONITORING,
    Status.CLEARANCE_PROPOSED,
    Status.CLEARANCE_TOWNSHIP_APPROVED,
]
INBOXES = {"cadre_a": VILLAGE_A, "reviewer_1": TOWNSHIP_1, "approver": COUNTY}


def _head(household, index: int, name: str) -> str:
    number = make_id_number(birth=date(1960, 1, 1) + timedelta(days=index), sequence=100)
    MemberFactory(household=household, name=name, relation="head", id_number=number)
    return number


def _grow(users, rounds: int) -> None:
    """Add `rounds` rows of every kind (see the module's docstring)."""
    start = Case.objects.count()
    for index in range(start, start + rounds * len(STATES)):
        household = HouseholdFactory(village_id=VILLAGE_A)
        _head(household, index, f"户主{index}")
        case = case_create(
            household=household,
            category=Category.SUDDEN,
            channel=Channel.CADRE_SCREENING,
            risk_codes=["01", "0201"],
            found_on=FOUND,
            by=users["cadre_a"],
            today=FOUND,
        )
        state = STATES[index % len(STATES)]
        monitored = state not in (Status.DRAFT, Status.REPORTED, Status.TOWNSHIP_APPROVED)
        # Test setup only: the case placed in its state without walking the workflow.
        Case.objects.filter(pk=case.pk).update(
            status=state, identified_on=FOUND + timedelta(days=10) if monitored else None
        )
        for username, region in INBOXES.items():
            Notification.objects.create(
                region_id=region,
                role=users[username].role,
                case=case,
                kind=NotificationKind.OVERDUE,
                message=f"第{index}户办理超期",
                key=f"test-{username}-{index}",
            )
        applicant = HouseholdFactory(village_id=VILLAGE_A)
        application = self_application_submit(
            name=f"申请人{index}",
            phone="13912345678",
            id_number=_head(applicant, index + 5000, f"申请人{index}"),
            difficulty="看病花费大，家里缺劳力",
            village=VILLAGE_A,
            risk_type="01",
        )
        if index % 2:
            clue_accept(clue_id=application.clue_id, by=users["reviewer_1"])


def _measure(client, url: str) -> tuple[int, int]:
    """(queries, bytes) of one GET."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured), len(response.content)


# Every page: the session, and the user with the region its header names (one query).
# The session is not saved: a request within a minute of the last write leaves it
# (config/sessions.py).
PER_REQUEST = 2
# The count and the page of households (head's name and member count annotated).
HOUSEHOLD_LIST = PER_REQUEST + 2
# The count, the page of cases (household and village joined, head's name and overdue flag
# annotated), their risks, their deadlines.
CASE_LIST = PER_REQUEST + 4
# The cases awaiting the user's approvals, their risks, their deadlines.
REVIEW = PER_REQUEST + 3
# … and, for the township, the 动态调整 awaiting its confirmation (one query).
TOWNSHIP_REVIEW = REVIEW + 1
# The count and the page of notifications.
NOTIFICATIONS = PER_REQUEST + 2
# The region's figures (one query), the monthly flow (two), the queue of cases with their
# risks and deadlines and its count (four), the overdue steps (one), the unread
# notifications (one) …
HOME = PER_REQUEST + 9
# … and the clue queue with its count, for the roles that verify or accept clues.
HOME_WITH_CLUES = HOME + 2
# … and, for the township reviewer, the 动态调整 waiting for its decision (one query);
HOME_OF_TOWNSHIP = HOME_WITH_CLUES + 1
# … and, for the county approver, the 防贫保险 claims paid this year (one aggregate) and
# the rounds of clues waiting to be sent down (one; their count only past a full queue).
HOME_OF_COUNTY = HOME + 2

PAGES = [
    ("/households/", "cadre_a", HOUSEHOLD_LIST),
    ("/households/", "reviewer_1", HOUSEHOLD_LIST),
    ("/households/", "approver", HOUSEHOLD_LIST),
    ("/cases/", "cadre_a", CASE_LIST),
    ("/cases/", "reviewer_1", CASE_LIST),
    ("/cases/", "approver", CASE_LIST),
    ("/review/", "reviewer_1", TOWNSHIP_REVIEW),
    ("/review/", "approver", REVIEW),
    ("/notifications/", "cadre_a", NOTIFICATIONS),
    ("/notifications/", "reviewer_1", NOTIFICATIONS),
    ("/notifications/", "approver", NOTIFICATIONS),
    ("/", "cadre_a", HOME_WITH_CLUES),
    ("/", "reviewer_1", HOME_OF_TOWNSHIP),
    ("/", "approver", HOME_OF_COUNTY),
]


@pytest.mark.parametrize(("url", "username", "pinned"), PAGES)
def test_the_page_runs_a_fixed_number_of_queries(client, users, url, username, pinned):
    client.force_login(users[username])
    _grow(users, 1)
    client.get(url)  # the first request of a test fills caches (content types …)
    few, few_bytes = _measure(client, url)
    _grow(users, 2)
    many, many_bytes = _measure(client, url)
    assert many_bytes > few_bytes, f"{url} shows no more with three times the rows"
    assert (few, many) == (pinned, pinned), (
        f"{url} as {username}: {few} queries with one row of each kind, {many} with three; "
        f"pinned at {pinned}"
    )


# The household page: the household (village joined), its members, its cases with their
# risks, its measures, home visits, monthly visits, insurance enrolments and claims — each
# read once, for its block and the timeline alike — then the timeline's own tables (warning
# rows, clues, workflow steps, consents, cross-checks, appraisals, notices, announcements),
# whether an insurance policy is open to it (none here, so no enrolment form) and its
# incomes.
HOUSEHOLD_PAGE = PER_REQUEST + 9 + 8 + 2


def test_the_household_page_reads_each_table_once(client, users, lines):
    household = HouseholdFactory(village_id=VILLAGE_A)
    _head(household, 1, "户主")
    case_create(
        household=household,
        category=Category.SUDDEN,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=FOUND,
        by=users["cadre_a"],
        today=FOUND,
    )
    client.force_login(users["cadre_a"])
    url = f"/households/{household.pk}/"
    client.get(url)
    queries, _ = _measure(client, url)
    assert queries == HOUSEHOLD_PAGE
