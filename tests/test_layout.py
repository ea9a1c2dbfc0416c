"""The package's layout keeps its shape: no import cycles between packages, small files,
every module importable on its own.

- Import graph: every `import` / `from ... import` of a cancerllm module, at module level
  or inside a function (a lazy import is still a dependency), is an edge between the two
  packages (`cancerllm.data`, `cancerllm.tasks`, ...; a top-level module is its own
  node). A cycle between packages fails, naming one import on each side.
- No file in cancerllm/ over MAX_LINES lines.
- Each module is imported first thing in a fresh interpreter (a child forked from one
  that has loaded only third-party libraries), so an import that works only because
  another module happened to be imported before it fails here.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cancerllm"
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and (PKG / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """cancerllm modules imported anywhere in `path` (relative imports resolved)."""
    out: set[str] = set()
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out.update(n for n in names if n in known and n != module)
    return out


def package_edges() -> dict[tuple[str, str], list[str]]:
    """(package a, package b) -> the imports `module -> module` that make a depend on b."""
    mods = modules()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in mods.items():
        for target in imports_of(name, path, set(mods)):
            a, b = package_of(name), package_of(target)
            if a != b:
                edges[(a, b)].append(f"{name} -> {target}")
    return edges


def find_cycle(edges) -> list[str] | None:
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    edges = {("cancerllm.a", "cancerllm.b"): ["x"], ("cancerllm.b", "cancerllm.c"): ["y"],
             ("cancerllm.c", "cancerllm.a"): ["z"], ("cancerllm.c", "cancerllm.d"): ["w"]}
    assert find_cycle(edges) == ["cancerllm.a", "cancerllm.b", "cancerllm.c", "cancerllm.a"]
    assert find_cycle({("cancerllm.a", "cancerllm.b"): ["x"]}) is None


def test_no_import_cycle_between_packages():
    edges = package_edges()
    cycle = find_cycle(edges)
    if cycle:
        steps = [f"{a} -> {b} (e.g. {edges[(a, b)][0]})" for a, b in zip(cycle, cycle[1:])]
        pytest.fail("import cycle between packages:\n  " + "\n  ".join(steps))


def test_no_file_in_the_package_is_over_the_line_limit():
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them by job): {long}"


CHILD = textwrap.dedent("""
    import os, sys, importlib, traceback
    for lib in ("torch", "transformers", "peft", "datasets", "accelerate", "sklearn", "numpy", "typer",
                "fastapi", "pydantic", "yaml", "tqdm"):
        try:
            importlib.import_module(lib)
        except ImportError:
            pass
    failed = []
    for name in sys.argv[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                importlib.import_module(name)
                code = 0
            except BaseException:
                os.write(w, traceback.format_exc(limit=3).encode()[-2000:])
                code = 1
            os._exit(code)
        os.close(w)
        msg = os.read(r, 4000).decode(errors="replace")
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if status:
            failed.append(name + ": " + msg.strip().splitlines()[-1] if msg.strip() else name)
    print("\\n".join(failed))
    sys.exit(1 if failed else 0)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_every_module_imports_first_in_a_fresh_interpreter():
    names = [n for n in modules() if not n.endswith("__main__")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, *names], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, "modules that fail to import on their own:\n" + proc.stdout + proc.stderr[-2000:]


def test_docs_map_lists_the_rooms_in_import_order():
    """docs/design.md's map: every room of the package, each importing only rooms above it."""
    import re
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    block = text[text.index("## Map"):]
    block = block[:block.index("```", block.index("```") + 3)]
    listed = [f"cancerllm.{m}" for m in re.findall(r"^  ([a-z_]+)/", block, re.M)]
    rooms = sorted(f"cancerllm.{d.name}" for d in PKG.iterdir() if (d / "__init__.py").is_file())
    assert sorted(listed) == sorted(rooms), f"the map lists {listed}; the package has {rooms}"
    wrong = [f"{a} imports {b} ({via[0]})" for (a, b), via in package_edges().items()
             if a in listed and b in listed and listed.index(b) > listed.index(a)]
    assert not wrong, "rooms importing a room listed below them in docs/design.md:\n  " + "\n  ".join(wrong)


def repeated_blocks(files: list[Path], width: int = 6) -> list[list[tuple[str, int]]]:
    """Places where the same `width` code lines (stripped; blank and comment lines skipped)
    stand twice: in two files, or twice apart in one. Windows of mostly short lines
    (closing brackets, `else:`) and pure import runs are not counted."""
    seen: dict[tuple, list[tuple[str, int]]] = defaultdict(list)
    for path in files:
        lines = [(i + 1, s) for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines())
                 if (s := raw.strip()) and not s.startswith("#")]
        for k in range(len(lines) - width + 1):
            window = tuple(s for _, s in lines[k:k + width])
            if sum(len(s) > 12 for s in window) < 4 or all(s.startswith(("from ", "import ")) for s in window):
                continue
            seen[window].append((str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                                 lines[k][0]))
    out = []
    for places in seen.values():
        starts = sorted(places)
        if len({f for f, _ in starts}) > 1 or any(b - a >= width for (_, a), (_, b) in zip(starts, starts[1:])):
            out.append(starts)
    return out


def test_the_repeat_finder_finds_a_planted_copy(tmp_path):
    body = "\n".join(f"value_{i} = compute_something({i}, other_argument)" for i in range(7)) + "\n"
    (tmp_path / "a.py").write_text(body)
    (tmp_path / "b.py").write_text("x = 1\n" + body)
    assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"])
    assert not repeated_blocks([tmp_path / "a.py"])


def test_no_block_of_six_code_lines_stands_twice_in_the_package():
    found = repeated_blocks(sorted(PKG.rglob("*.py")))
    assert not found, "the same 6 lines stand in several places (make one of them serve): " + str(found[:5])
