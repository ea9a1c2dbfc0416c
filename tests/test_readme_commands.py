"""Every `cancerllm ...` command the README and docs/ name exists: its --help runs.

Commands are taken from code spans, fenced blocks and "$ " lines; "a|b|c" alternatives
are each checked. A word after a command group that is not one of its subcommands is a
failure (that is how a documented but missing command, like "eval compare" once, shows).
"""

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cancerllm.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_CMD = re.compile(r"\bcancerllm((?:[ \t]+[a-z][a-z0-9|-]*)+)")


def documented_commands() -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        code = [m.group(0) for m in _CODE.finditer(text)] + [ln for ln in text.splitlines() if ln.startswith("$ ")]
        for chunk in code:
            for m in _CMD.finditer(chunk):
                words = m.group(1).split()
                heads = [[]]
                for w in words:
                    heads = [h + [alt] for h in heads for alt in w.split("|")]
                found.update(tuple(h) for h in heads)
    return found


def _resolve(words: tuple[str, ...]) -> list[str]:
    """The command path the words name, or an AssertionError naming the missing word."""
    cmd = typer.main.get_command(app)
    path: list[str] = []
    for w in words:
        if not hasattr(cmd, "commands"):   # a leaf command: the rest are its arguments
            break
        assert w in cmd.commands, f"`cancerllm {' '.join(path + [w])}` is documented but does not exist"
        cmd = cmd.commands[w]
        path.append(w)
    return path


COMMANDS = sorted({tuple(_resolve(w)) for w in documented_commands()})


def test_the_docs_name_the_pipeline_commands():
    assert ("eval", "compare") in COMMANDS and ("data", "tasks") in COMMANDS and len(COMMANDS) > 15


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_documented_command_help_runs(path):
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output
