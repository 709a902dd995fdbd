"""The cache pointed at a Redis that does not answer (a closed port), in-process: no service
needed, so this runs everywhere; tests/faults/test_redis_outage.py does the same with real
processes under CI. Reads and writes that keep nothing in the cache go on; the security
limits that count in it refuse with a 503 and a reason; nothing is a 500."""

import json

import pytest
from django.test import Client

from households.models import Member
from tests.faults.services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_redis(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


@pytest.fixture(autouse=True)
def _empty_cache():
    """Overrides tests/conftest.py's: there is no cache to clear here."""


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_reads_and_steps_go_on_and_security_limits_refuse_clearly(users, family, dead_redis):
    cadre = _client(users["cadre_a"])
    member = Member.objects.get(household=family, relation="head")

    listed = cadre.get("/api/households/")
    assert listed.status_code == 200 and listed.json()["count"] == 1
    created = cadre.post(
        "/api/households/",
        {"number": f"{family.village_id}09999", "village": family.village_id, "kind": "ordinary"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert cadre.get(f"/households/{family.pk}/").status_code == 200

    reveal = cadre.post(
        f"/api/members/{member.pk}/reveal/",
        {"field": "id_number", "reason": "入户核实"},
        content_type="application/json",
    )
    assert reveal.status_code == 503
    assert reveal["Content-Type"].startswith("application/json")
    assert json.loads(reveal.content)["detail"].startswith("服务暂时不可用")
    assert reveal["Retry-After"] == "30"

    signing_in = Client(raise_request_exception=False).post(
        "/login/", {"username": "cadre_b", "password": "pw-cadre_b"}
    )
    assert signing_in.status_code == 503
    assert "服务暂时不可用" in signing_in.content.decode()
    assert "_auth_user_id" not in signing_in.wsgi_request.session


def test_another_server_error_is_still_the_500_page(users, monkeypatch):
    from households.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(views.HouseholdViewSet, "list", broken)
    answer = _client(users["cadre_a"]).get("/api/households/")
    assert answer.status_code == 500
    assert "服务暂时不可用" not in answer.content.decode()
