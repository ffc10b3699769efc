"""The rooms keep their layering: no module imports a room above it, and no import cycles.

The table is the architecture (README "Layout"): each room lists the rooms it may import.
Low-level helpers (`errors`, `volume`, `_atomic`, `_progress`, `_writer`, `_pseudo`, `_pool`, `tables`,
`device`) may be imported by any room.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "bonenet"
BASE = {"errors", "volume", "_atomic", "_progress", "_writer", "_pseudo", "_pool", "_fmt",
        "_research", "tables", "device",
        "__version__"}
ALLOWED = {
    "io": set(),
    "calibrate": set(),
    "segment": set(),
    "morphometry": set(),
    "clinical": set(),
    "synth": {"io", "morphometry", "clinical"},
    "measure": {"io", "calibrate", "segment", "morphometry", "synth"},
    "data": {"io", "clinical"},
    "models": set(),
    "training": {"models", "data", "io", "evaluation"},  # io: reader options; evaluation: the yardstick
    "evaluation": set(),
    "baselines": {"clinical", "evaluation"},
    "inference": {"models", "data", "io", "clinical", "measure", "training"},
}
TOP = {"demo", "cli", "commands", "__main__", "__init__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Fully qualified bonenet modules (or module.name) imported by ``path``, lazy ones too."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("bonenet"):
                out |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("bonenet")}
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_room_imports_a_room_above_it():
    bad = []
    for path in PKG.rglob("*.py"):
        room = _room(_module_name(path))
        if room in TOP or room in BASE:
            continue
        for target in _imports(path):
            other = _room(target)
            if other == room or other in BASE:
                continue
            if other not in ALLOWED.get(room, set()):
                bad.append(f"{_module_name(path)} imports {target}")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles_between_modules():
    """Module-level imports only (lazy imports inside functions cannot deadlock an import)."""
    graph: dict[str, set[str]] = defaultdict(set)
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in tree.body:  # top level only
            if isinstance(node, ast.If):  # TYPE_CHECKING blocks are not run
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                for a in node.names:
                    full = f"{target}.{a.name}"
                    dep = full if full in modules else target
                    if dep in modules and dep != name and not name.startswith(dep + "."):
                        graph[name].add(dep)
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        seen[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if seen.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in seen and (cyc := visit(m)):
                return cyc
        stack.pop()
        seen[n] = 2
        return None

    for n in list(modules):
        if n not in seen and (cycle := visit(n)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_no_module_is_over_450_lines_without_saying_why():
    long = []
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 450 and "longer than" not in text[:3000]:
            long.append(f"{path.relative_to(PKG)}: {text.count(chr(10))} lines")
    assert not long, long
