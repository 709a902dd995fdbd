"""The Docker image and compose file agree with the settings and with each other (there is no
Docker engine on the development machines: these are read, not built)."""

import re

import yaml

from tests.conftest import REPO

APP_SERVICES = ("migrate", "web", "worker", "beat")


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))


def test_the_image_has_pg_dump_of_the_compose_servers_major_version():
    image = _compose()["services"]["postgres"]["image"]
    major = re.fullmatch(r"postgres:(\d+)(\..*)?", image).group(1)
    dockerfile = (REPO / "Dockerfile").read_text("utf-8")
    assert f"postgresql-client-{major}" in dockerfile
    # A named Debian release: the package above exists in it (bookworm ships PostgreSQL 15).
    assert re.search(r"^FROM python:3\.\d+-slim-bookworm$", dockerfile, re.MULTILINE)


def test_the_app_containers_share_the_media_and_backup_folders():
    compose = _compose()
    for name in APP_SERVICES:
        volumes = compose["services"][name].get("volumes", [])
        assert "media:/app/var/media" in volumes, name
        assert "backups:/app/var/backups" in volumes, name
    assert {"media", "backups"} <= set(compose["volumes"])


def test_every_variable_of_the_env_example_is_read_by_the_settings_or_compose():
    settings_source = "".join(path.read_text("utf-8") for path in (REPO / "config").glob("*.py"))
    compose_source = (REPO / "docker-compose.yml").read_text("utf-8")
    names = [
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert "DATABASE_URL" in names and "REDIS_URL" in names
    for name in names:
        assert f'"{name}"' in settings_source or f"${{{name}}}" in compose_source, name


def test_the_secrets_file_is_kept_out_of_the_image():
    ignored = (REPO / ".dockerignore").read_text("utf-8").split()
    assert ".env" in ignored and "var" in ignored
