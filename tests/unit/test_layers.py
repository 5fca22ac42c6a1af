"""Dependencies between the top-level packages point one way (DESIGN §2): the runtime
(`adapters`) and the panel (`panel_api`) never import each other, `botapi` sits below both,
the runtime's Telegram-agnostic core (`runtime`) knows neither aiogram nor `adapters`, which
builds on it, `observability` sits below the core and the panel,
the composition root (`process.py`) is imported by no package, and panel pages reach the
panel's rules through its services, never through the API's route handlers. Read from the
import statements, including those inside functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = sorted(
            name
            for name in imported_modules(path)
            if any(name == f or name.startswith(f"{f}.") for f in forbidden)
        )
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_the_panel_does_not_import_the_runtime():
    assert offenders("panel_api", ("adapters", "process")) == {}


def test_the_runtime_does_not_import_the_panel():
    assert offenders("adapters", ("panel_api", "process")) == {}


def test_the_core_knows_neither_telegram_nor_the_adapters():
    assert offenders("runtime", ("aiogram", "adapters", "panel_api", "process")) == {}


def test_the_core_runs_without_aiogram():
    """Not even through a package below it (botapi lends it the deep-link format only)."""
    modules = sorted(f"runtime.{path.stem}" for path in (ROOT / "runtime").glob("*.py"))
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED_AFTER_IMPORTING.format(modules=modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [name for name in loaded if name.split(".")[0] in ("aiogram", "adapters")] == []


_LOADED_AFTER_IMPORTING = """
import importlib, sys
for name in {modules}:
    importlib.import_module(name)
print(*sys.modules)
"""


def test_botapi_sits_below_the_runtime_and_the_panel():
    assert offenders("botapi", ("adapters", "panel_api", "process")) == {}


def test_the_lower_layers_import_neither_runtime_nor_panel():
    for package in ("storage", "courses"):
        forbidden = ("observability", "runtime", "adapters", "panel_api", "botapi", "process")
        assert offenders(package, forbidden) == {}


def test_storage_sits_below_the_course_sources_and_the_engine():
    """DESIGN §2: what reads courses or runs the engine lives above storage (the
    ProfoChatBot importer is its own package for that reason)."""
    assert offenders("storage", ("courses", "engine", "legacy_import")) == {}


def test_observability_sits_below_the_runtime_and_the_panel():
    assert offenders("observability", ("runtime", "adapters", "panel_api", "process")) == {}


def test_pages_call_services_not_route_handlers():
    assert offenders("panel_api/web", ("panel_api.routers",)) == {}


def test_services_know_nothing_of_http_routing_or_pages():
    assert offenders("panel_api/services", ("panel_api.routers", "panel_api.web", "fastapi")) == {}
