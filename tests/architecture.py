"""The measuring instrument for cohortaudit's import contracts (issue 15, point 9).

Why this exists: the house rule "imports point down" was broken quietly, because about a
hundred imports live inside functions where no one sees them close a circle, and private
helpers were reached into across modules instead of being made public. This module reads
every ``.py`` file under ``src/cohortaudit`` and ``app/`` with the stdlib :mod:`ast` (nothing is
imported or executed), builds the import graph, and turns the contracts below into one line
per violation. ``tests/test_architecture.py`` compares those lines with a checked-in baseline
(a ratchet: debt may be paid off, never added).

Contracts
---------
``streamlit``   nothing under ``src/`` imports streamlit (the library has no UI).
``views``       nothing under ``app/views`` imports sklearn, shap, fairlearn, statsmodels or
                ``cohortaudit.metrics`` (views show results; they do not compute them).
``cycle``       no strongly connected component of more than one module in the graph of
                cohortaudit (and app) imports, function-level imports included.
``private``     no ``_name`` taken from another module, either as ``from m import _name`` or as
                ``alias._name`` on a module alias.
``render``      ``cohortaudit.render`` imports only the result types, the vocabulary modules,
                textsafe / errors / outputs, and render itself.

How imports are read (and what is deliberately left out)
--------------------------------------------------------
- ``from a import b`` is an import of module ``a.b`` when ``a/b.py`` or ``a/b/`` exists, else an
  import of the name ``b`` from ``a``. Relative imports are resolved against the importer.
- An edge goes to the module named, not to the packages above it: ``import a.b.c`` runs
  ``a/__init__`` too, but counting that would make every package ``__init__`` that re-exports
  its children a member of a cycle, which says nothing about the design.
- Under ``app/`` the directory itself is on ``sys.path`` (Streamlit runs ``app/streamlit_app.py``),
  so ``import state`` there is ``app.state``.
- Imports under ``if TYPE_CHECKING:`` never run; they count for every contract except ``cycle``.
- Dynamic imports (``importlib.import_module("...")``, the lazy table in
  ``cohortaudit/__init__``) and ``getattr(m, "_name")`` are not seen.

Run ``python tests/architecture.py --report`` for the figures (cycles, private imports,
function-level imports, long modules) and ``--violations`` for the lines as the baseline
spells them.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).with_name("architecture_baseline.txt")
LONG_MODULE_LINES = 900

# Contract "views": packages a view must not import (a view shows results; it computes none).
VIEW_FORBIDDEN = ("sklearn", "shap", "fairlearn", "statsmodels", "cohortaudit.metrics")
# Contract "render": what a renderer may read. The vocabulary modules are the ones point 5 of
# issue 15 introduces (metric registry, number and phrase formatting, theme); rename here when
# they get their final names.
RENDER_ALLOWED = (
    "cohortaudit.render",
    "cohortaudit.results",
    "cohortaudit.registry",
    "cohortaudit.vocabulary",
    "cohortaudit.formatting",
    "cohortaudit.theme",
    "cohortaudit.textsafe",
    "cohortaudit.errors",
    "cohortaudit.outputs",
)


@dataclass(frozen=True)
class Import:
    """One imported module (and, for ``from m import name``, the name taken from it)."""

    importer: str
    target: str
    name: str | None
    line: int
    scope: str  # "module", "function" or "type-checking"
    internal: bool


@dataclass(frozen=True)
class PrivateUse:
    """``alias._name`` where ``alias`` is bound to another of our modules."""

    importer: str
    target: str
    name: str
    line: int


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def discover(root: Path, packages: Iterable[str] = ("src/cohortaudit", "app")) -> dict[str, Module]:
    """Every module under the given directories, by dotted name (``src/`` is not part of it)."""
    found: dict[str, Module] = {}
    for package in packages:
        base = root / package
        if not base.is_dir():
            continue
        strip = base.parent  # src/cohortaudit -> cohortaudit.*, app -> app.*
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(strip).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


def _is_package_prefix(name: str, modules: dict[str, Module]) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


class _Reader(ast.NodeVisitor):
    """Collects imports (with their scope) and ``alias._name`` uses from one module."""

    def __init__(self, module: Module, modules: dict[str, Module]) -> None:
        self.module = module
        self.modules = modules
        self.imports: list[Import] = []
        self.aliases: dict[str, str] = {}  # local name -> module it is bound to
        self.attributes: list[tuple[str, str, int]] = []  # (dotted value, attr, line)
        self._depth = 0
        self._type_checking = 0

    # -- scopes --------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not guarded:
            self.generic_visit(node)
            return
        self._type_checking += 1
        for child in node.body:
            self.visit(child)
        self._type_checking -= 1
        for child in node.orelse:
            self.visit(child)

    def _scope(self) -> str:
        if self._type_checking:
            return "type-checking"
        return "function" if self._depth else "module"

    # -- names ---------------------------------------------------------------------------
    def _absolute(self, name: str) -> str:
        """``import state`` in app/ means app.state (app/ is on sys.path there)."""
        in_app = self.module.name.split(".")[0] == "app"
        if in_app and _is_package_prefix(f"app.{name.split('.')[0]}", self.modules):
            return f"app.{name}"
        return name

    def _relative_base(self, level: int, module: str | None) -> str:
        parts = self.module.name.split(".")
        package = parts if self.module.is_package else parts[:-1]
        if level > 1:
            package = package[: len(package) - (level - 1)]
        return ".".join([*package, *([module] if module else [])])

    def _add(self, target: str, name: str | None, line: int) -> None:
        internal = target in self.modules
        self.imports.append(Import(self.module.name, target, name, line, self._scope(), internal))

    # -- imports -------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            target = self._absolute(alias.name)
            self._add(target, None, node.lineno)
            if alias.asname:
                self.aliases[alias.asname] = target
            else:  # ``import a.b`` binds ``a``; ``a.b._x`` is resolved through the chain
                first = alias.name.split(".")[0]
                self.aliases[first] = self._absolute(first)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self._relative_base(node.level, node.module)
        else:
            base = self._absolute(node.module or "")
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.modules:
                self._add(submodule, None, node.lineno)
                self.aliases[alias.asname or alias.name] = submodule
            else:
                self._add(base, alias.name, node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node.value)
        if dotted is not None and _is_private(node.attr):
            self.attributes.append((dotted, node.attr, node.lineno))
        self.generic_visit(node)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class Analysis:
    modules: dict[str, Module]
    imports: tuple[Import, ...]
    private_uses: tuple[PrivateUse, ...]

    def graph(self, *, runtime_only: bool = True) -> dict[str, set[str]]:
        """Internal import edges, importer -> imported module (self-imports dropped)."""
        edges: dict[str, set[str]] = {name: set() for name in self.modules}
        for imp in self.imports:
            if not imp.internal or imp.target == imp.importer:
                continue
            if runtime_only and imp.scope == "type-checking":
                continue
            edges[imp.importer].add(imp.target)
        return edges

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module, largest first."""
        found = [sorted(c) for c in strongly_connected(self.graph()) if len(c) > 1]
        return sorted(found, key=lambda c: (-len(c), c))

    def private_imports(self) -> list[tuple[str, str, str, int]]:
        """(importer, module, name, line) for every private name taken from another module."""
        out = [
            (i.importer, i.target, i.name, i.line)
            for i in self.imports
            if i.internal and i.name and _is_private(i.name) and i.target != i.importer
        ]
        out += [
            (u.importer, u.target, u.name, u.line)
            for u in self.private_uses
            if u.target != u.importer
        ]
        return sorted(out)


def analyse(root: Path = ROOT, packages: Iterable[str] = ("src/cohortaudit", "app")) -> Analysis:
    modules = discover(root, packages)
    imports: list[Import] = []
    uses: list[PrivateUse] = []
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
        reader = _Reader(module, modules)
        reader.visit(tree)
        imports += reader.imports
        for dotted, attr, line in reader.attributes:
            first, _, rest = dotted.partition(".")
            if first not in reader.aliases:
                continue
            target = reader.aliases[first] + (f".{rest}" if rest else "")
            if target in modules:
                uses.append(PrivateUse(module.name, target, attr, line))
    return Analysis(modules, tuple(imports), tuple(uses))


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative, so a deep graph cannot hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _within(name: str, packages: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def violations(analysis: Analysis) -> list[str]:
    """Every contract violation as one stable line (no line numbers, so edits don't churn it)."""
    lines: set[str] = set()
    for imp in analysis.imports:
        if _within(imp.importer, ["cohortaudit"]) and _within(imp.target, ["streamlit"]):
            lines.add(f"streamlit: {imp.importer} imports {imp.target}")
        if _within(imp.importer, ["app.views"]) and _within(imp.target, VIEW_FORBIDDEN):
            lines.add(f"views: {imp.importer} imports {imp.target}")
        if (
            _within(imp.importer, ["cohortaudit.render"])
            and _within(imp.target, ["cohortaudit"])
            and not _within(imp.target, RENDER_ALLOWED)
        ):
            lines.add(f"render: {imp.importer} imports {imp.target}")
    for component in analysis.cycles():
        lines.add(f"cycle: {' '.join(component)}")
    for importer, target, name, _ in analysis.private_imports():
        lines.add(f"private: {importer} uses {target}.{name}")
    order = {"streamlit": 0, "views": 1, "cycle": 2, "private": 3, "render": 4}
    return sorted(lines, key=lambda line: (order[line.split(":")[0]], line))


def read_baseline(path: Path = BASELINE) -> list[str]:
    """The baseline's violation lines (blank lines and ``#`` comments skipped)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [s for s in (raw.strip() for raw in text.splitlines()) if s and not s.startswith("#")]


def ratchet(current: Iterable[str], baseline: Iterable[str]) -> tuple[list[str], list[str]]:
    """(new debt: violations the baseline does not list, paid debt: baseline lines now stale)."""
    current, baseline = set(current), list(baseline)
    return sorted(current - set(baseline)), [line for line in baseline if line not in current]


def line_counts(analysis: Analysis) -> tuple[dict[str, int], dict[str, int]]:
    """Lines per package (its own files, not sub-packages) and per module."""
    per_module = {
        name: len(m.path.read_text(encoding="utf-8").splitlines())
        for name, m in analysis.modules.items()
    }
    per_package: Counter[str] = Counter()
    for name, lines in per_module.items():
        package = name if analysis.modules[name].is_package else name.rpartition(".")[0]
        per_package[package or name] += lines
    return dict(sorted(per_package.items())), per_module


def report(analysis: Analysis) -> str:
    out: list[str] = []
    cycles = analysis.cycles()
    out.append(f"Import cycles (function-level imports included): {len(cycles)}")
    for component in cycles:
        out.append(f"  {len(component)} modules: {', '.join(component)}")
        members = set(component)
        edges = sorted(
            {
                (i.importer, i.target, i.line, i.scope)
                for i in analysis.imports
                if i.importer in members and i.target in members and i.scope != "type-checking"
            },
            key=lambda edge: (edge[0], edge[2]),
        )
        for importer, target, line, scope in edges:  # the imports to cut, one of them per circle
            out.append(f"      {importer}:{line} -> {target}  ({scope} level)")

    private = analysis.private_imports()
    by_importer = Counter(p[0] for p in private)
    distinct = {(p[0], p[1], p[2]) for p in private}
    out.append(
        f"\nCross-module private names: {len(private)} uses "
        f"({len(distinct)} distinct importer/name pairs)"
    )
    for importer, n in by_importer.most_common():
        names = sorted({f"{p[1]}.{p[2]}" for p in private if p[0] == importer})
        plural = "" if len(names) == 1 else "s"
        out.append(f"  {n:4d} uses of {len(names):2d} name{plural:1}  {importer}")

    out.append("\nImport statements inside functions:")
    for top in ("cohortaudit", "app"):
        fn = [i for i in analysis.imports if i.scope == "function" and _within(i.importer, [top])]
        statements = {(i.importer, i.line) for i in fn}
        ours = {(i.importer, i.line) for i in fn if i.internal}
        out.append(f"  {top}: {len(statements)} ({len(ours)} of them import our own modules)")

    render_targets: dict[str, set[str]] = defaultdict(set)
    for imp in analysis.imports:
        outside = _within(imp.target, ["cohortaudit"]) and not _within(
            imp.target, ["cohortaudit.render"]
        )
        if _within(imp.importer, ["cohortaudit.render"]) and outside:
            render_targets[imp.target].add(imp.importer.removeprefix("cohortaudit.render."))
    out.append(
        "\nWhat cohortaudit.render imports from the rest of the package (x: outside the contract):"
    )
    for target in sorted(render_targets):
        mark = " " if _within(target, RENDER_ALLOWED) else "x"
        out.append(f"  {mark} {target}  <- {', '.join(sorted(render_targets[target]))}")

    per_package, per_module = line_counts(analysis)
    out.append("\nLines per package (its own modules):")
    for package, lines in per_package.items():
        out.append(f"  {lines:6d}  {package}")
    long = sorted(((n, m) for m, n in per_module.items() if n > LONG_MODULE_LINES), reverse=True)
    out.append(f"\nModules over {LONG_MODULE_LINES} lines: {len(long)}")
    for lines, module in long:
        out.append(f"  {lines:6d}  {module}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--report", action="store_true", help="print the figures for issue 15")
    group.add_argument(
        "--violations", action="store_true", help="print today's violations, as baseline lines"
    )
    args = parser.parse_args(argv)
    analysis = analyse()
    print(report(analysis) if args.report else "\n".join(violations(analysis)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
