"""The package's architecture holds: its layers, its test kit's place, one twin selector, no import cycle.

The contracts are declared in ``pyproject.toml`` (``[tool.importlinter]``) and checked here with
import-linter; the cycle check walks grimp's import graph (the graph import-linter itself builds).
An import made only under ``if TYPE_CHECKING:`` is not a dependency and does not count.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(LINT_IMPORTS), "--no-cache"]
    if config is not None:
        args += ["--config", str(config)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def cycles(imports: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every import cycle of a graph (module -> modules it imports), as its strongly connected
    components of more than one module, or of one module importing itself (Tarjan's algorithm,
    iterative so that a deep package cannot exhaust the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(imports):
        if start in index:
            continue
        work = [(start, iter(sorted(imports.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in imports.get(node, ()):
                        found.append(sorted(component))
    return found


def _graph_of(package: str) -> dict[str, set[str]]:
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def test_every_import_contract_of_pyproject_is_kept() -> None:
    proc = _lint()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(declared)} kept, 0 broken." in proc.stdout, proc.stdout
    assert {c["type"] for c in declared} >= {"layers", "forbidden", "protected"}


def test_the_layers_contract_checks_the_real_graph(tmp_path: Path) -> None:
    # The same package with its two lowest layers named the other way round: the codec imports the
    # model, so import-linter must report the contract broken (it reads the real imports).
    config = tmp_path / "inverted.toml"
    config.write_text(textwrap.dedent("""\
        [tool.importlinter]
        root_package = "fleetven"
        exclude_type_checking_imports = true

        [[tool.importlinter.contracts]]
        name = "inverted on purpose"
        type = "layers"
        layers = ["fleetven.openadr", "fleetven.messages"]
        """))
    proc = _lint(config)
    assert proc.returncode != 0
    assert "fleetven.openadr is not allowed to import fleetven.messages" not in proc.stdout
    assert "fleetven.messages is not allowed to import fleetven.openadr" in proc.stdout, proc.stdout


def test_the_package_has_no_import_cycle() -> None:
    graph = _graph_of("fleetven")
    assert "fleetven.fleet.driver" in graph and "fleetven.openadr.model" in graph
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cyclic_pkg_for_fleetven_tests"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_pkg_for_fleetven_tests import b\n")
    (package / "b.py").write_text("from cyclic_pkg_for_fleetven_tests import c\n")
    (package / "c.py").write_text("import cyclic_pkg_for_fleetven_tests.a\n")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from cyclic_pkg_for_fleetven_tests import e\n")
    (package / "e.py").write_text("from cyclic_pkg_for_fleetven_tests import d\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    name = package.name
    assert cycles(_graph_of(name)) == [[f"{name}.a", f"{name}.b", f"{name}.c"]]


def test_cycles_on_small_graphs() -> None:
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert cycles({"a": {"a"}}) == [["a"]]
    assert sorted(cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}})) == [
        ["a", "b"], ["c", "d", "e"]]
