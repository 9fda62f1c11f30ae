"""The repository keeps its promises to a new user."""
from __future__ import annotations

import re
from pathlib import Path

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
