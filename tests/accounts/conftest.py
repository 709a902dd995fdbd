"""Fixtures of the second factor's tests: the requirement switched on, and a fixed clock (a
TOTP code depends on the time step it is made in)."""

import pytest
import time_machine

SECOND_FACTOR_T0 = "2026-11-02 09:00:00 +0800"


@pytest.fixture
def required(settings):
    settings.SECOND_FACTOR_REQUIRED = True


@pytest.fixture
def clock():
    with time_machine.travel(SECOND_FACTOR_T0, tick=False) as traveller:
        yield traveller
