"""Dependencies between the top-level packages point one way (DESIGN §2): the runtime
(`adapters`) and the panel (`panel_api`) never import each other, `botapi` sits below both,
the composition root (`process.py`) is imported by no package, and panel pages reach the
panel's rules through its services, never through the API's route handlers. Read from the
import statements, including those inside functions."""

from __future__ import annotations

import ast
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


def test_botapi_sits_below_the_runtime_and_the_panel():
    assert offenders("botapi", ("adapters", "panel_api", "process")) == {}


def test_the_lower_layers_import_neither_runtime_nor_panel():
    for package in ("storage", "courses"):
        assert offenders(package, ("adapters", "panel_api", "botapi", "process")) == {}


def test_observability_sits_below_the_runtime_and_the_panel():
    assert offenders("observability", ("adapters", "panel_api", "process")) == {}


def test_pages_call_services_not_route_handlers():
    assert offenders("panel_api/web", ("panel_api.routers",)) == {}


def test_services_know_nothing_of_http_routing_or_pages():
    assert offenders("panel_api/services", ("panel_api.routers", "panel_api.web", "fastapi")) == {}
