"""One spelling for each option across the CLI: --input, --output, --task (old ones hidden)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.cli_options import CANONICAL

# Commands whose main input is a path argument, or named for what it is (--model, --data,
# --predictions ...), have no --input; every command that writes a file or folder has --output.
NO_OUTPUT = {"read", "extract", "diagnose", "plan", "serve", "stage"}


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):   # a group (typer runs on its own copy of click: no isinstance)
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_finds_every_stage():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"data tasks", "data corpus", "eval compare", "train finetune", "robust misspell", "predict",
            "demo", "view", "report real"} <= names and len(names) > 25


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_visible_options_use_the_canonical_spellings(path, cmd):
    options = [p for p in cmd.params if p.param_type_name == "option"]
    visible = {o for p in options if not p.hidden for o in p.opts}
    hidden = {o for p in options if p.hidden for o in p.opts}
    assert not visible & set(CANONICAL), f"{' '.join(path)} shows an old spelling: {visible & set(CANONICAL)}"
    for old in hidden & set(CANONICAL):          # an old spelling is only an alias of the new one
        new = CANONICAL[old]
        assert new in visible or (old == "--set" and "--input" in visible), f"{' '.join(path)}: {old} without {new}"
    if path[-1] not in NO_OUTPUT:
        assert "--output" in visible, f"{' '.join(path)} has no --output"
    help_text = CliRunner().invoke(app, [*path, "--help"]).output
    assert not any(f"{old} " in help_text for old in ("--out", "--in", "--tasks")), help_text


def test_old_and_new_spellings_write_the_same_corpus(tmp_path):
    runner = CliRunner()
    new = runner.invoke(app, ["data", "synth", "--output", str(tmp_path / "new"), "--patients", "3"])
    old = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "old"), "--patients", "3"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert (tmp_path / "new" / "notes.jsonl").read_bytes() == (tmp_path / "old" / "notes.jsonl").read_bytes()


def test_old_task_spellings_of_data_tasks_still_work(tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["data", "synth", "--output", str(tmp_path / "c"), "--patients", "6"]).exit_code == 0
    res = runner.invoke(app, ["data", "tasks", "--in", str(tmp_path / "c"), "--out", str(tmp_path / "t"),
                              "--tasks", "diagnosis"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t" / "diagnosis" / "train.jsonl").is_file() and not (tmp_path / "t" / "phenotype").exists()


def test_a_required_option_is_still_required_and_not_given_twice(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["data", "synth"])
    assert missing.exit_code == 2 and "Missing option '--output'" in missing.output
    both = runner.invoke(app, ["data", "synth", "--output", str(tmp_path / "a"), "--out", str(tmp_path / "b")])
    assert both.exit_code == 2 and "not both" in both.output


def test_corpus_takes_inputs_and_overrides_like_the_other_commands(tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": f"n{i}", "patient_id": f"p{i}", "text": f"Clinic note {i}. " * 30})
                             + "\n" for i in range(12)))
    runner = CliRunner()
    new = runner.invoke(app, ["data", "corpus", "--input", str(notes), "--output", str(tmp_path / "a"),
                              "min_chars=10"])
    old = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(tmp_path / "b"), "--set", "min_chars=10"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert json.loads((tmp_path / "a" / "corpus.json").read_text())["config"]["min_chars"] == 10
    bad = runner.invoke(app, ["data", "corpus", "--output", str(tmp_path / "c"), "min_chars=10"])
    assert bad.exit_code == 2 and "--input" in bad.output
