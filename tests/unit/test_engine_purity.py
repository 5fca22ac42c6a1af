"""The engine stays a pure functional core: no I/O libraries, no asyncio, nothing of the
other layers -- checked both by importing it in a clean interpreter and by reading its
import statements."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).parents[2] / "engine"
FORBIDDEN = ("asyncio", "aiogram", "sqlalchemy", "asyncpg", "redis", "httpx", "aiohttp")
OTHER_LAYERS = ("courses", "storage", "botapi", "adapters", "panel_api", "runner", "process")
ALLOWED_THIRD_PARTY = ("pydantic",)


def engine_modules() -> list[str]:
    modules = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ENGINE.parent).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_importing_every_engine_module_loads_no_io_library():
    script = (
        "import importlib, json, sys\n"
        f"for name in {engine_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ENGINE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout)
    offenders = [m for m in loaded if m.split(".")[0] in (*FORBIDDEN, *OTHER_LAYERS)]
    assert offenders == []
    assert "engine.step" in loaded and len(engine_modules()) > 10


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            roots.add("__import__")
    return roots


def test_engine_sources_import_only_stdlib_pydantic_and_engine():
    stdlib = sys.stdlib_module_names
    problems = {}
    for path in sorted(ENGINE.rglob("*.py")):
        bad = {
            root
            for root in imported_roots(path)
            if root != "engine"
            and root not in ALLOWED_THIRD_PARTY
            and (root not in stdlib or root in FORBIDDEN)
        }
        if bad:
            problems[str(path.relative_to(ENGINE.parent))] = sorted(bad)
    assert problems == {}


def test_engine_sources_do_no_io_and_read_no_clock():
    io_calls = {"open", "print", "input", "exec", "eval"}
    clock_reads = {"now", "utcnow", "today", "time", "monotonic"}
    io_modules = {"os", "io", "socket", "subprocess", "threading", "time", "random", "pathlib"}
    problems = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in io_calls:
                problems.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in clock_reads:
                problems.append(f"{path.name}:{node.lineno} reads the clock ({node.func.attr})")
        for root in imported_roots(path) & io_modules:
            problems.append(f"{path.name} imports {root}")
    assert problems == []
