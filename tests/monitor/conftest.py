"""The case fixtures (lines, family, draft_case) live in tests/conftest.py."""

from tests.conftest import PDF

__all__ = ["PDF"]
