"""Declared dependencies are exactly what the code imports (plus the tools tests run as programs)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN = {"geopera", "geopera_stac_ext"}
# NOTE: run as executables, not imported: stac-api-validator (tests/stac), ruff (make lint).
TEST_TOOLS = {"stac-api-validator", "ruff"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(group: list[str]) -> set[str]:
    return {_norm(re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0]) for spec in group}


def _imported(folder: str) -> dict[str, set[str]]:
    """Third-party top-level modules imported under `folder` → the distributions providing
    them (several for a namespace such as stac_fastapi or pystac)."""
    local = {p.stem for p in (REPO / folder).rglob("*.py")}
    dists = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in (REPO / folder).rglob("*.py"):
        if "schemas" in path.parts:  # vendored, runs in validator subprocesses only
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                if name in sys.stdlib_module_names or name in OWN or name in local:
                    continue
                assert name in dists, f"{path}: {name} is imported but not installed"
                found[name] = {_norm(d) for d in dists[name]}
    return found


def _undeclared(imported: dict[str, set[str]], declared: set[str]) -> set[str]:
    """Modules none of whose providing distributions is declared."""
    return {module for module, dists in imported.items() if not dists & declared}


def _provided(imported: dict[str, set[str]]) -> set[str]:
    return set().union(*imported.values())


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_runtime_dependencies_are_exactly_what_src_imports():
    declared = _declared(_project()["dependencies"])
    imported = _imported("src")
    assert _undeclared(imported, declared) == set(), "imported by src/ but not declared"
    assert declared - _provided(imported) == set(), "declared but never imported by src/"


def test_test_dependencies_are_declared_directly():
    runtime = _declared(_project()["dependencies"])
    test = _declared(_project()["optional-dependencies"]["test"])
    imported = _imported("tests") | _imported("benchmarks")
    assert _undeclared(imported, runtime | test) == set(), "imported by tests, not declared"
    assert test - _provided(imported) - TEST_TOOLS == set(), "test extra: nothing imports it"


def test_the_lock_pins_every_declared_dependency():
    pinned = {_norm(line.split("==")[0]) for line in
              (REPO / "requirements.lock").read_text().splitlines() if "==" in line}
    project = _project()
    declared = _declared(project["dependencies"]) | _declared(
        project["optional-dependencies"]["test"])
    assert declared - pinned == set()
