"""Hostile test: schemathesis over the OpenAPI schema, as every role and signed out.

Each operation of /api/schema/ gets generated requests, valid ones and invalid ones, sent
through the WSGI application to the shared scenario (tests/conftest.py: one user per role,
in the demo county, with the demo's households, cases, clues, rounds and reports loaded
around them). Each request goes out as every role, by its API key, and with no credentials,
and its answer passes schemathesis's checks: no 5xx, the body and content type as
documented, no undocumented status, invalid input refused, authentication not ignored,
undocumented methods refused with 405, and the rest.

Left out: `positive_data_acceptance`, which wants every schema-valid request accepted. A
schema cannot say that a household id must exist in your region, that a finding day must
not precede 2016 or that a case must be in the right state for a step; those refusals are
400s with their reasons, and the 400 is documented on every such operation.

Deterministic (derandomized, no example database); SCHEMATHESIS_EXAMPLES raises the number
of examples for a deeper local run."""

import io
import os

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db

ROLES = ("cadre_a", "reviewer_1", "approver", "department", "auditor", "admin")
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))
SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # Reported as found: shrinking a failure would multiply the run time.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def demo_around_the_scenario(
    users, settings, tmp_path, eager_celery, django_capture_on_commit_callbacks
):
    """The demo county's data, so lists answer rows with every kind of value (cleared
    cases, natural clearances, rounds sent and waiting, insurance, monthly reports)."""
    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def connection_kept_across_requests():
    """The WSGI handler closes the database connection after each request, which would
    end the test's transaction (PostgreSQL); Django's test client keeps it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _credentials(users) -> list[tuple[str, dict]]:
    credentials = [("(未登录)", {})]
    for role in ROLES:
        _, key = ApiToken.issue(user=users[role], name="schemathesis")
        credentials.append((role, {"Authorization": f"Token {key}"}))
    return credentials


def _takes_input(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def _exercise(operation, mode, credentials, sent: list) -> list[str]:
    """Run one operation's generated requests in one mode; the failures, described."""
    found = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @SETTINGS
    def check(case):
        for who, headers in credentials:
            sent.append(who)
            # Each request in a savepoint rolled back after it: the next one meets the same
            # data (deterministic), and a database error in one (a 500, reported) does not
            # abort the test's transaction for all that follow, as it would on PostgreSQL.
            with transaction.atomic():
                try:
                    case.call_and_validate(
                        headers=headers, excluded_checks=[positive_data_acceptance]
                    )
                except (Failure, FailureGroup) as failure:
                    found.append(f"{operation.label} [{mode.value}] as {who}:\n{failure}")
                transaction.set_rollback(True)

    try:
        check()
    except Unsatisfiable:
        # No invalid request can be made of this operation's inputs (negative mode only).
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    return found


def test_every_operation_as_every_role_passes_schemathesis(
    users, settings, demo_around_the_scenario, connection_kept_across_requests
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    credentials = _credentials(users)
    failures, operations, sent = [], 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        modes = [schemathesis.GenerationMode.POSITIVE]
        if _takes_input(operation):
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            failures += _exercise(operation, mode, credentials, sent)
    assert operations > 100
    # Every operation was reached, as every role and signed out.
    assert len(sent) >= operations * len(credentials)
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(
        failure[:3000] for failure in failures[:20]
    )
