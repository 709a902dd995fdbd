"""Checks on the suite and the wiring that a passing test run would otherwise hide: a beat
entry naming a task no worker has runs nothing, every month, in silence; a runtime library
skipped with importorskip turns a broken installation into a green run."""

import ast
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest
from django.conf import settings

from config import celery_app

REPO = Path(__file__).resolve().parent.parent


def _registered_tasks() -> set[str]:
    # What a worker started with `-A config` registers: the app's autodiscovered modules.
    celery_app.loader.import_default_modules()
    return {name for name in celery_app.tasks if not name.startswith("celery.")}


def test_every_beat_entry_names_a_registered_task_that_takes_its_arguments():
    registered = _registered_tasks()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule, "the beat schedule is empty"
    problems = []
    for entry, spec in schedule.items():
        name = spec["task"]
        if name not in registered:
            problems.append(f"{entry}: no task named {name!r}")
            continue
        signature = inspect.signature(celery_app.tasks[name].run)
        try:
            signature.bind(*spec.get("args", ()), **spec.get("kwargs", {}))
        except TypeError as exc:
            problems.append(f"{entry}: {name} cannot take its arguments ({exc})")
    assert problems == []


def test_the_beat_check_sees_a_misspelt_task():
    # The check above would pass vacuously if registration were never looked at.
    assert "monitor.sweep_waiting_batches" in _registered_tasks()
    assert "monitor.sweep_waiting_batch" not in _registered_tasks()


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0]
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def _importorskips() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.append((str(path.relative_to(REPO)), node.lineno, node.args[0].value))
    return found


def test_no_test_skips_itself_when_a_runtime_dependency_is_missing():
    """A runtime dependency that fails to import is a broken installation: its tests must
    fail, not skip. (importorskip stays allowed for optional tools.)"""
    runtime = _requirement_names(REPO / "requirements.txt")
    distributions = importlib.metadata.packages_distributions()
    offending = []
    for where, line, module in _importorskips():
        top = module.split(".", 1)[0]
        owners = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(top, [top])}
        if owners & runtime:
            offending.append(f"{where}:{line} importorskip({module!r})")
    assert offending == []


@pytest.mark.parametrize(
    ("module", "is_runtime"), [("openpyxl", True), ("rest_framework", True), ("pytest", False)]
)
def test_the_runtime_dependency_check_knows_its_packages(module, is_runtime):
    runtime = _requirement_names(REPO / "requirements.txt")
    owners = importlib.metadata.packages_distributions()[module]
    assert bool({re.sub(r"[-_.]+", "-", d).lower() for d in owners} & runtime) is is_runtime
