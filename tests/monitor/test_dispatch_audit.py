"""Every round dispatch is an audit event (issue 11: the auditor sees department pushes and
what the county did with them). The whole-round dispatch writes its clues' trail rows in one
statement, past the per-row signal that audits single steps: the round itself is audited,
once, with its counts and no personal data. A round sent down by the county's automatic rule
is an event too, by nobody."""

import json

import pytest

from accounts.audit import audit_verify
from accounts.choices import AuditAction
from accounts.models import AuditEvent
from monitor.choices import ClueStatus
from monitor.engine import WorkflowError
from monitor.feeds.dispatch import round_dispatch
from monitor.models import DispatchRound, RegionPolicy
from tests.conftest import COUNTY, OTHER_COUNTY
from tests.monitor.test_clue_dispatch import (  # noqa: F401 - fixtures
    TODAY,
    _push,
    _round,
    _rows,
    department,
    homes,
    listed,
)

pytestmark = pytest.mark.django_db


def _round_events():
    return AuditEvent.objects.filter(object_type="monitor.dispatchround").order_by("seq")


def _no_personal_data(event, homes):  # noqa: F811
    text = json.dumps(event.detail, ensure_ascii=False) + event.object_label + event.reason
    for household, id_number in homes.values():
        assert id_number not in text and id_number[-4:] not in text
        assert household.number not in text
        assert household.members.get().name not in text


def test_a_whole_round_dispatch_is_one_audit_event_with_its_counts(listed, users, api, homes):  # noqa: F811
    batch, _ = listed
    ours = _round(batch)
    assert not _round_events().exists()
    response = api("approver").post(f"/api/dispatch-rounds/{ours.pk}/dispatch/")
    assert response.status_code == 200, response.content

    (event,) = _round_events()
    assert (event.action, event.object_id) == (AuditAction.TRANSITION, str(ours.pk))
    assert (event.actor, event.actor_name) == (users["approver"], "approver")
    assert event.detail == {
        "source": "round_dispatch",
        "round": ours.pk,
        "batch": batch.pk,
        "department": "县医保局",
        "county": COUNTY,
        "step": "dispatch",
        "from": ClueStatus.PENDING_DISPATCH.value,
        "to": ClueStatus.VERIFYING.value,
        "clues": 3,
        "villages": 3,
        "automatic": False,
    }
    assert event.ip == "127.0.0.1"  # the request's address, through the acting context
    _no_personal_data(event, homes)
    assert audit_verify().broken is None

    # The second try is refused (409) and writes no second event.
    again = api("approver").post(f"/api/dispatch-rounds/{ours.pk}/dispatch/")
    assert again.status_code == 409
    assert _round_events().count() == 1


def test_a_round_dispatch_refused_for_scope_writes_no_event(listed, users):  # noqa: F811
    batch, _ = listed
    theirs = _round(batch, OTHER_COUNTY)
    with pytest.raises(WorkflowError) as refused:
        round_dispatch(round_id=theirs.pk, by=users["approver"])
    assert refused.value.http_status == 404
    assert not _round_events().exists()


def test_a_round_sent_down_by_the_countys_automatic_rule_is_an_event_by_nobody(
    department,  # noqa: F811
    homes,  # noqa: F811
):
    RegionPolicy.objects.create(region_id=COUNTY, year=TODAY.year, clue_auto_dispatch=True)
    batch = _push(department, "auto", _rows(homes))
    ours, theirs = _round(batch), _round(batch, OTHER_COUNTY)
    assert ours.dispatched_at is not None and theirs.dispatched_at is None
    (event,) = _round_events()  # the waiting round of the other county is not an event yet
    assert (event.actor, event.actor_name, event.object_id) == (None, "", str(ours.pk))
    assert event.detail["automatic"] is True
    assert (event.detail["clues"], event.detail["villages"], event.detail["county"]) == (
        3,
        3,
        COUNTY,
    )
    _no_personal_data(event, homes)
    assert DispatchRound.objects.filter(dispatched_at__isnull=False).count() == 1
    assert audit_verify().broken is None
