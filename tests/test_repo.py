"""The repository keeps its promises to a new user."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", quick, re.S)


def test_readme_gives_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[0].endswith("tfaudio demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert _readme_commands()[1] in lines


def test_library_does_not_import_tuning_or_pipelines():
    for path in (ROOT / "tfaudio").rglob("*.py"):
        src = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+(tuning|pipelines)\b", src, re.M), path
        assert not re.search(r"import_module\(\s*[\"'](tuning|pipelines)", src), path


def test_tune_command_comes_from_the_tuning_plugin():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="tfaudio.commands")}
    assert eps.get("tune") == "tuning.cli:register"


#: tfaudio's units (top-level modules and packages) from the bottom up: each may import only units below it
#: (and itself); `tuning` sits above all of them. A package's `__main__` is a command, at the top.
LAYERS = ("errors", "_checks", "io", "features", "config", "spec", "pretrained", "run_folder", "models", "experiment",
          "data", "inference", "deploy", "evaluation", "separation", "training", "cli")


def _import_graph() -> dict[str, set[tuple[str, str]]]:
    """{importing module: {(imported tfaudio/tuning module, where)}}, every import (lazy ones too)."""
    import ast

    graph: dict[str, set[tuple[str, str]]] = {}
    for folder in ("tfaudio", "tuning"):
        for path in (ROOT / folder).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            edges = graph.setdefault(name, set())
            for node in ast.walk(ast.parse(path.read_text())):
                mods = []
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("tfaudio", "tuning"):
                    mods = [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    mods = [a.name for a in node.names if a.name.split(".")[0] in ("tfaudio", "tuning")]
                for m in mods:
                    while m.count(".") and not ((ROOT / m.replace(".", "/")).with_suffix(".py").is_file()
                                                or (ROOT / m.replace(".", "/") / "__init__.py").is_file()):
                        m = m.rsplit(".", 1)[0]
                    edges.add((m, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "tuning":
        return "tuning"
    if parts[-1] == "__main__":
        return "cli"
    return parts[1] if len(parts) > 1 else "tfaudio"


def test_every_import_goes_down_the_layers():
    rank = {u: i for i, u in enumerate(("tfaudio",) + LAYERS + ("tuning",))}
    units = {p.stem if p.is_file() else p.name for p in (ROOT / "tfaudio").iterdir()
             if (p.suffix == ".py" and p.stem not in ("__init__", "__main__")) or (p / "__init__.py").is_file()}
    assert units - {"pipelines"} == set(LAYERS), "every module and package of tfaudio/ has its place in LAYERS"
    wrong = [f"{where}: {_unit(src)} imports {dst}" for src, edges in _import_graph().items() for dst, where in edges
             if rank[_unit(dst)] > rank[_unit(src)] or (_unit(src) != "tuning" and _unit(dst) == "tuning")]
    assert not wrong, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(wrong))


def test_no_import_circles():
    graph = {m: {d for d, _ in edges if d != m} for m, edges in _import_graph().items()}
    state: dict[str, int] = {}
    circles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                circles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, circles


def test_no_one_letter_module_aliases():
    alias = re.compile(r"^\s*(from\s+\S+\s+import\s+\w+|import\s+\S+)\s+as\s+[A-Za-z]\s*$", re.M)
    for folder in ("tfaudio", "tuning", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not alias.findall(path.read_text()), path
