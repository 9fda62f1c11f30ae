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


def _tfaudio_imports(folder: Path) -> dict[str, set[str]]:
    """{file: the tfaudio modules it imports (anywhere in the file)} for the .py files under `folder`."""
    import ast

    out = {}
    for path in folder.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tfaudio"):
                names = [f"tfaudio.{a.name}" for a in node.names] if node.module == "tfaudio" else [node.module]
                found.update(n.split(".")[1] for n in names if "." in n)
            elif isinstance(node, ast.Import):
                found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("tfaudio."))
        out[str(path.relative_to(ROOT))] = found
    return out


@pytest.mark.parametrize("package, allowed", [
    ("features", {"features", "errors", "_checks"}),  # the numbers: nothing else of tfaudio
    ("models", {"models", "features", "config", "errors", "_checks", "outputs"}),
    ("inference", {"inference", "audio", "headers", "run", "outputs", "plots", "errors", "_checks"}),
])
def test_packages_import_only_what_their_layout_says(package, allowed):
    for path, found in _tfaudio_imports(ROOT / "tfaudio" / package).items():
        assert found <= allowed, f"{path} imports tfaudio.{sorted(found - allowed)}"


def test_no_one_letter_module_aliases():
    alias = re.compile(r"^\s*(from\s+\S+\s+import\s+\w+|import\s+\S+)\s+as\s+[A-Za-z]\s*$", re.M)
    for folder in ("tfaudio", "tuning", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not alias.findall(path.read_text()), path
