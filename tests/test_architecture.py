"""The shape of the package, checked: no import cycles, nothing imports the CLI, files stay small.

Imports are read from the source (the AST of every module in ``src/dynconv``), including imports
inside functions, so a cycle hidden behind a lazy import is found too.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dynconv"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``dynconv`` modules that module ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]):
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                cycle = visit(m)
                if cycle:
                    return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            cycle = visit(n)
            if cycle:
                return cycle
    return None


def test_the_walker_sees_relative_lazy_and_submodule_imports():
    graph = import_graph()
    assert "dynconv.sr.image.resize" in graph["dynconv.sr.image.degrade"]  # relative: from .resize import
    assert "dynconv.sr" in graph["dynconv.cli"]  # lazy: inside a function
    assert "dynconv.kernels" in graph["dynconv.optim"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_only_main_imports_the_cli():
    importers = sorted(n for n, deps in import_graph().items() if "dynconv.cli" in deps)
    assert importers == ["dynconv.__main__"]


#: The layers, bottom to top, as the design document draws them. A module belongs to the first entry that
#: names it or its package; a layer imports only layers listed before it, and ``console`` (the
#: terminal plumbing) may be imported by any layer above the framework.
LAYERS = {
    "framework": ("dynconv.reference", "dynconv.kernels", "dynconv.layers", "dynconv.graph", "dynconv.graph_checks",
                  "dynconv.graph_report", "dynconv.optim", "dynconv.gradcheck", "dynconv.checkpoint", "dynconv.fileio",
                  "dynconv.bounded"),
    "console": ("dynconv.console",),
    "sr": ("dynconv.sr",),
    "training": ("dynconv.training",),
    "photo": ("dynconv.photo",),
    "reproduce": ("dynconv.reproduce",),
    "apps": ("dynconv.demo", "dynconv.cli", "dynconv.__main__"),
}
#: What a layer may import besides itself (the rules, stated once).
ALLOWED = {
    "framework": {"framework"},
    "console": set(),
    "sr": {"framework", "console"},
    "training": {"framework", "console", "sr"},
    "photo": {"framework", "console", "sr"},
    "reproduce": {"framework", "console", "sr"},
    "apps": set(LAYERS),
}


def layer_of(module: str) -> str:
    for layer, prefixes in LAYERS.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_every_module_belongs_to_a_layer_and_imports_only_layers_below():
    bad = []
    for module, deps in import_graph().items():
        if module == "dynconv":  # the package itself: __version__ and the lazy `dynconv.upscale`
            continue
        layer = layer_of(module)
        bad += [f"{module} ({layer}) imports {d} ({layer_of(d)})" for d in sorted(deps - {"dynconv"})
                if layer_of(d) != layer and layer_of(d) not in ALLOWED[layer]]
    assert not bad, "\n".join(bad)


def test_at_most_twelve_modules_sit_directly_in_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


def test_the_inference_engine_never_imports_the_model_builders():
    assert "dynconv.sr.models" not in import_graph()["dynconv.sr.inference"]


def test_the_reference_imports_only_numpy():
    names = set()
    for path in (PACKAGE / "reference").glob("*.py"):
        tree = ast.parse(path.read_text())
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    outside = {n.split(".")[0] for n in names if not n.startswith("dynconv.reference")}
    assert outside <= {"numpy", "__future__", "typing"}, outside


def test_no_source_file_is_longer_than_the_limit():
    long = {str(p.relative_to(SRC)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


MAX_BODY = 60


def long_functions(source: str, limit: int = MAX_BODY) -> dict[str, int]:
    """``{name: lines}`` of the functions whose body, after its docstring, is over ``limit`` lines."""
    long = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str)
            start = (body[1].lineno if len(body) > 1 else body[0].end_lineno + 1) if doc else body[0].lineno
            if (n := node.end_lineno - start + 1) > limit:
                long[node.name] = n
    return long


def test_the_function_measure_counts_the_body_after_the_docstring():
    lines = [f"    x{i} = {i}" for i in range(61)]
    head = 'def f():\n    """doc\n    more"""\n'
    assert long_functions(head + "\n".join(lines)) == {"f": 61}
    assert long_functions(head + "\n".join(lines[1:])) == {}  # 60 lines after a 2-line docstring


def test_no_function_body_is_longer_than_the_limit():
    long = {f"{p.relative_to(SRC)}:{f}": n for p in PACKAGE.rglob("*.py")
            for f, n in long_functions(p.read_text()).items()}
    assert not long, f"function bodies over {MAX_BODY} lines: {long}"


def private_uses(name: str, path: Path, known: set[str]) -> list[str]:
    """Another module's private names that module ``name`` uses: ``from m import _x``, ``m._x``
    through an imported module, or a private module of another package (``pkg._helpers``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    private = lambda s: s.startswith("_") and not s.startswith("__")  # noqa: E731
    found, alias = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or node.level):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                if full in known:
                    alias[a.asname or a.name] = full
                    if private(a.name) and base != package:
                        found.append(f"from {base} import {a.name}")
                elif base in known and private(a.name):
                    found.append(f"from {base} import {a.name}")
            owner, _, leaf = base.rpartition(".")
            if base in known and private(leaf) and owner != package:
                found.append(f"from {base} import ...")
        elif isinstance(node, ast.Import):
            alias.update({a.asname: a.name for a in node.names if a.name in known and a.asname})
    found += [f"{alias[n.value.id]}.{n.attr}" for n in ast.walk(tree)
              if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in alias
              and private(n.attr)]
    return found


def test_the_private_name_walker_sees_each_kind(tmp_path):
    known = {"dynconv.a", "dynconv.kernels", "dynconv.kernels._blas", "dynconv.b"}
    src = tmp_path / "b.py"
    src.write_text("from dynconv.a import _x, y\nfrom dynconv import a as A\nA._z\nA.w\n"
                   "from dynconv.kernels._blas import parallel\nfrom dynconv.kernels import _blas\n")
    assert private_uses("dynconv.b", src, known) == [
        "from dynconv.a import _x", "from dynconv.kernels._blas import ...", "from dynconv.kernels import _blas",
        "dynconv.a._z"]


def test_no_module_uses_another_modules_private_names():
    mods = modules()
    bad = {n: uses for n, p in mods.items() if (uses := private_uses(n, p, set(mods)))}
    assert not bad, f"private names used across modules: {bad}"


#: The modules that speak to a command-line user; every other module is a library.
COMMAND_LINE = {"dynconv.cli", "dynconv.__main__", "dynconv.demo"}
FLAG = re.compile(r"(?<![\w`-])--[a-z]")


def flag_mentions(tree) -> list[str]:
    """Raise messages that name a command-line flag (a `dynconv ...` command in backticks is
    advice to run a command, and may)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        parts = {id(v) for s in ast.walk(node.exc) if isinstance(s, ast.JoinedStr) for v in s.values}
        for s in ast.walk(node.exc):
            if id(s) in parts:  # read with its f-string
                continue
            if isinstance(s, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in s.values)
            elif isinstance(s, ast.Constant) and isinstance(s.value, str):
                text = s.value
            else:
                continue
            if FLAG.search(re.sub(r"`dynconv [^`]*`", "", text)):
                found.append(f"line {node.lineno}: {text[:80]}")
    return found


def test_the_flag_finder_sees_plain_and_f_strings():
    tree = ast.parse('raise ValueError(f"{p}: give --force")\nraise ValueError("run `dynconv train --config x`")\n'
                     'raise ValueError("`force` allows it")\n')
    assert flag_mentions(tree) == ["line 1: {}: give --force"]


def test_library_errors_name_parameters_not_flags():
    bad = {n: found for n, p in modules().items()
           if n not in COMMAND_LINE and not n.endswith("_cmd") and (found := flag_mentions(ast.parse(p.read_text())))}
    assert not bad, f"library errors that quote command-line flags (name the parameter in backticks): {bad}"


def test_the_tests_mirror_the_source_tree():
    """A test of ``dynconv/<pkg>/<module>.py`` sits in ``tests/<pkg>/``: no test folder without its
    package, and no test at the top named after a module that lives in a package."""
    tests = SRC.parent / "tests"
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for folder in (p for p in tests.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        rel = folder.relative_to(tests)
        assert (PACKAGE / rel / "__init__.py").exists(), f"tests/{rel}/ mirrors no package of src/dynconv"
    nested = {m.rsplit(".", 1)[-1] for m in modules() if m.count(".") >= 2}
    top = {p.stem[len("test_"):] for p in tests.glob("test_*.py")}
    misplaced = sorted(top & (nested - {p.stem for p in PACKAGE.glob("*.py")}) - packages)
    assert not misplaced, f"tests at the top for modules inside a package: {misplaced}"
