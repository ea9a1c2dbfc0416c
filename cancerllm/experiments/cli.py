"""CLI of the experiments that run several stages end to end (`cancerllm report ...`; the demo is `cancerllm demo`).

`report real` is the real-data experiment (TCGA pathology reports, cancer abstracts,
SmolLM2-135M): a thin shell over `cancerllm.experiments.real.run.run_real`.
"""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings

app = typer.Typer(no_args_is_help=True, help="report stage")


@app.callback()
def reports() -> None:
    """Reports that run several stages end to end."""  # keeps `real` a subcommand with one command


@app.command("real")
@old_spellings(out="--out")
def real_cmd(
    out: str = typer.Option("runs/real", "--output", help="Run folder (resumable: finished stages are skipped)."),
    recipe: str = typer.Option("real-smollm2", help="real-smollm2 (needs ./run smollm2) or real-tiny."),
    data_dir: str = typer.Option(None, help="Folder holding tcga_reports_kefeli_t14/, hallmarks_of_cancer/, "
                                            "medical_abstracts_tc/ (default: <repo>/../shared/data)."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides, e.g. pretrain.max_train_blocks=80."),
):
    """Real-data experiment: perplexity before/after continued pre-training, staging on TCGA test."""
    from cancerllm.experiments.real.run import run_real
    report = run_real(out, recipe, override or [], data_dir=data_dir)
    typer.echo(f"report: {report}")
