#!/usr/bin/env python
import os
import sys
from pathlib import Path

DEMO_ENV = Path(__file__).resolve().parent / "var" / "demo.env"


def load_demo_env() -> None:
    """In a working tree where `make run` has generated var/demo.env, manage.py commands use
    its keys unless the environment names its own (the environment always wins). A deployment
    has no var/demo.env: the image leaves var/ out."""
    if not DEMO_ENV.exists():
        return
    for line in DEMO_ENV.read_text("utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            os.environ.setdefault(key.strip(), value.strip())


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    load_demo_env()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
