"""docs/training.md's launch lines parse and dry-run: 1 GPU, 8 GPUs, several nodes, 2 CPUs.

Each line is split as a shell would; the launcher part goes through the launcher's own parser
(accelerate's `launch_command_parser` + `_validate_launch_command`, which also loads the
--config_file; torchrun's `get_args_parser`), and the `cancerllm.cli ...` part through
cancerllm's click command tree and the recipe loader with the line's overrides. Nothing is
launched and no model is read.
"""

from __future__ import annotations

import re
import shlex

import pytest
import typer

from tests.distributed.launch import REPO

DOC = REPO / "docs" / "training.md"


def launch_lines() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Scale out"):text.index("## Throughput")]
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(shlex.split(line))
    return lines


LINES = launch_lines()


def parse_cancerllm(argv: list[str]):
    """(leaf command name path, its parsed params) without running it."""
    from cancerllm.cli import app
    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("cancerllm", list(argv))
    path = []
    while hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
        name, sub, rest = cmd.resolve_command(ctx, ctx._protected_args + ctx.args)
        path.append(name)
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    return path, ctx.params


def check_cancerllm(argv: list[str]) -> list[str]:
    from cancerllm.config import load_config
    from cancerllm.train.finetune import FinetuneConfig
    from cancerllm.train.pretrain import PretrainConfig
    path, params = parse_cancerllm(argv)
    assert path[0] == "train" and path[1] in ("pretrain", "finetune"), path
    cfg_type = PretrainConfig if path[1] == "pretrain" else FinetuneConfig
    load_config(cfg_type, params["recipe"], params["override"] or [])  # recipe and overrides are valid
    assert params["model"] and params["out"], "a launch line names its model and its --output"
    assert not any(a in ("--out", "--in", "--tasks") for a in argv), "docs use the one spelling"
    return path


def check_accelerate(argv: list[str]) -> dict:
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    args = launch_command_parser().parse_args(argv)
    args, defaults, _ = _validate_launch_command(args)  # loads --config_file, checks the flags
    assert args.module and args.training_script == "cancerllm.cli", argv
    check_cancerllm(args.training_script_args)
    return {"processes": args.num_processes, "machines": args.num_machines or 1,
            "config": defaults.distributed_type.value if defaults else None}


def check_torchrun(argv: list[str]) -> dict:
    from torch.distributed.run import get_args_parser
    args = get_args_parser().parse_args(argv)
    assert args.module and args.training_script == "cancerllm.cli", argv
    check_cancerllm(args.training_script_args)
    nodes = int(str(args.nnodes).split(":")[-1])
    return {"processes": int(args.nproc_per_node) * nodes, "machines": nodes, "config": "DDP"}


@pytest.mark.parametrize("argv", LINES, ids=lambda a: " ".join(a[:4]))
def test_launch_line_parses_and_dry_runs(argv):
    tool, rest = argv[0], argv[1:]
    if tool == "accelerate":
        assert rest[0] == "launch"
        check_accelerate(rest[1:])
    elif tool == "torchrun":
        check_torchrun(rest)
    else:
        assert tool == "cancerllm"
        check_cancerllm(rest)


def test_the_docs_cover_one_gpu_eight_gpus_and_several_nodes():
    shapes = set()
    for argv in LINES:
        if argv[0] == "accelerate":
            s = check_accelerate(argv[2:])
        elif argv[0] == "torchrun":
            s = check_torchrun(argv[1:])
        else:
            s = {"processes": 1, "machines": 1, "config": "quantization=4bit" in argv and "QLoRA"}
        shapes.add((argv[0], s["processes"], s["machines"]))
    assert ("cancerllm", 1, 1) in shapes                       # one GPU, QLoRA
    assert {("accelerate", 8, 1), ("torchrun", 8, 1)} <= shapes  # one node of 8
    assert {("accelerate", 16, 2), ("torchrun", 16, 2)} <= shapes  # two nodes of 8
    assert ("accelerate", 2, 1) in shapes                      # the two-CPU line the tests run


def test_a_broken_line_would_fail():
    """The checks can fail: a misspelt launcher flag or recipe key is caught."""
    with pytest.raises(SystemExit):
        check_torchrun(["--gpus-per-node", "8", "-m", "cancerllm.cli", "train", "pretrain", "--recipe",
                        "pretrain-tiny", "--model", "M", "--data", "D", "--out", "O"])
    from cancerllm.errors import ConfigError
    with pytest.raises(ConfigError):
        check_cancerllm(["train", "pretrain", "--recipe", "pretrain-tiny", "--model", "M", "--data", "D",
                         "--out", "O", "train.learning_rat=1"])
