"""Imports run one way: the CLI over the API over the renderers over the analysis, down to units and errors.

Read with :mod:`ast`, so imports under ``TYPE_CHECKING`` and inside functions count as much as the
ones at the top of a module: a circle closed only for type checkers is still a circle to a reader.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "analyzer"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__", "cli_reference"),
    ("cli",),
    ("terminal", "serve"),
    ("__init__",),
    ("api",),
    ("render",),
    ("findings", "synth"),
    ("simulate",),
    ("model", "collect"),
    ("snapshot", "prices", "frames"),
    ("units", "documents", "paths", "runtime"),
    ("errors", "__about__"),
)
"""Top to bottom; a part of ``analyzer`` may import only from its own package or from a lower layer."""

RANK = {part: depth for depth, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str], text: str | None = None) -> set[str]:
    """Every ``analyzer`` module that ``path`` (or ``text`` in its place) imports, anywhere in the file."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {name for name in found if name in known}


def part(module: str) -> str:
    """The layer part a module belongs to: its first component under ``analyzer``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found)) - {name} for name, path in found.items()}


def test_every_part_of_the_package_has_a_layer() -> None:
    assert {part(m) for m in modules()} <= set(RANK), "a new part of analyzer/ needs a place in LAYERS"


def test_imports_only_go_down_the_layers() -> None:
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in sorted(targets)
        if part(source) != part(target) and RANK[part(target)] <= RANK[part(source)]
    ]
    assert wrong == []


def test_no_import_circle_among_modules() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == []


EXECUTION = ("multiprocessing", "mmap", "ctypes", "gc", "concurrent.futures.process", "os.fork")
"""What forks processes, shares or tunes memory: :mod:`analyzer.runtime`'s business alone."""


def execution_imports(path: Path, text: str | None = None) -> set[str]:
    """The execution modules ``path`` (or ``text`` in its place) imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, filename=str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        found.update(n for n in names if any(n == e or n.startswith(e + ".") for e in EXECUTION))
    return found


def test_processes_and_memory_policy_live_in_the_runtime_package_alone() -> None:
    offenders = {
        name: sorted(found)
        for name, path in modules().items()
        if part(name) != "runtime" and (found := execution_imports(path))
    }
    assert offenders == {}


def test_the_execution_check_sees_a_fork() -> None:
    path = PACKAGE / "simulate" / "hpa_replay.py"
    assert execution_imports(path, path.read_text() + "import multiprocessing as mp\nfrom gc import freeze\n") == {
        "multiprocessing", "gc", "gc.freeze"}  # fmt: skip


@pytest.mark.parametrize(
    ("source", "extra", "expected"),
    [
        ("analyzer/render/registry.py", "from analyzer.api import render\n", "analyzer.api"),
        ("analyzer/units.py", "from analyzer import cli\n", "analyzer.cli"),
        ("analyzer/model/classify.py", "from ..findings import summary\n", "analyzer.findings.summary"),
    ],
)
def test_the_check_sees_an_upward_import(source: str, extra: str, expected: str) -> None:
    """The reading is right: an upward import added to a module's text is found and is out of order."""
    path = PACKAGE.parent / source
    known = set(modules())
    added = imports(path, known, path.read_text() + extra) - imports(path, known)
    assert expected in added
    assert RANK[part(expected)] < RANK[part(module_name(path))]


RAW_READ = re.compile(r"""\[["'](metadata|spec)["']\]|\.get\(["'](metadata|spec|status)["']""")
PATCH_BUILDERS = {"analyzer.findings.remedies", "analyzer.simulate.keda"}
"""Modules that write patches of objects as collected, and so read them raw; ``render.partial`` reads its own
manifest (a ``metadata`` key that is not a Kubernetes object's). ``["status"]`` is left out of the pattern:
the HPA table has a ``status`` column."""


def test_nothing_below_the_snapshot_reads_kubernetes_objects_raw() -> None:
    """Kubernetes objects are typed once in :mod:`analyzer.snapshot` (pods, workloads, HPAs, VPAs,
    ScaledObjects); the layers that analyse and render read the typed objects, never a raw ``metadata``,
    ``spec`` or ``status``, but for the patch builders."""
    analysing = ("model", "simulate", "findings", "render", "api")
    found = [
        f"{name}: {match.group(0)}"
        for name, path in modules().items()
        if part(name) in analysing and name not in PATCH_BUILDERS | {"analyzer.render.partial"}
        for match in RAW_READ.finditer(path.read_text())
    ]
    assert found == []


def test_the_command_line_starts_without_matplotlib() -> None:
    """matplotlib is a third of the command's start-up: it is imported by the first page that draws a figure,
    not by ``--help``, ``collect`` or a JSON report."""
    code = "import sys, analyzer.cli; print(sorted(m for m in sys.modules if m.partition('.')[0] == 'matplotlib'))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == "[]"
