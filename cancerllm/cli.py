"""`cancerllm`: one command whose subcommands mirror the pipeline.

data -> models -> train -> eval -> robust -> serve/predict, plus `demo` which runs them
all on the embedded default. Each subcommand is a thin shell over a Python function of
the same name in the stage's package; heavy libraries are imported inside commands so
`cancerllm --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from cancerllm.cli_options import old_spellings
from cancerllm.data.cli import app as data_app
from cancerllm.evaluate.cli import app as eval_app
from cancerllm.models.cli import app as models_app
from cancerllm.experiments.cli import app as report_app
from cancerllm.robustness.cli import app as robust_app
from cancerllm.serve.cli import register as register_serving
from cancerllm.tasks.cli import mount as mount_tasks_command
from cancerllm.train.cli import app as train_app
from cancerllm.errors import CancerLLMError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Build, evaluate and serve a small cancer-domain language model, offline.")
mount_tasks_command(data_app)
app.add_typer(data_app, name="data", help="Read, synthesise, de-identify, build task datasets and the corpus.")
app.add_typer(models_app, name="models", help="Tokenizer and tiny default model; import a real base.")
app.add_typer(train_app, name="train", help="Continued pre-training, instruction tuning, heads.")
app.add_typer(eval_app, name="eval", help="Generate, score, compare, analyse errors.")
app.add_typer(robust_app, name="robust", help="Counterfactual and misspelling testbeds.")
app.add_typer(report_app, name="report", help="End-to-end reports: real data (TCGA, SmolLM2).")
register_serving(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version
        try:
            typer.echo(f"cancerllm {version('cancerllm')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from cancerllm import __version__
            typer.echo(f"cancerllm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the installed version and exit.")):
    """Build, evaluate and serve a small cancer-domain language model, offline."""


@app.command()
@old_spellings(output="--out")
def view(path: str = typer.Argument(..., help="A run folder, or an output file (extract/predict/staging/predictions JSONL)."),
         output: str = typer.Option(None, "--output", help="HTML file to write (default: RUN/report.html "
                                    "or FILE.html)."),
         notes: str = typer.Option(None, help="Note texts for outputs that hold none: JSONL (id + text) or one text file."),
         references: str = typer.Option(None, help="Gold answers for a predictions file: task JSONL (id + response)."),
         max_cards: int = typer.Option(200, help="At most this many notes per file on the page."),
         figures: bool = typer.Option(True, help="For a run folder: (re)draw every figure its files allow "
                                      "first (confusion matrices, forest plot, loss curves, calibration).")):
    """Write one self-contained HTML page (no network; note text escaped) to look at and share."""
    from pathlib import Path

    from cancerllm.view import view as write_view
    if figures and Path(path).is_dir():
        from cancerllm.evaluate.figures import write_run_figures
        for png in write_run_figures(path):
            typer.echo(f"figure {png}")
    typer.echo(f"wrote {write_view(path, output, notes, references, max_cards)}")


@app.command()
@old_spellings(out="--out")
def demo(out: str = typer.Option("runs/demo", "--output", help="Run folder for every stage and the report."),
         profile: str = typer.Option("default", help="default: SmolLM2-135M base (recipes/demo.yaml); "
                                                     "smoke: the tiny model, a few-minute pipeline check."),
         recipe: str = typer.Option(None, help="Demo recipe (name in recipes/ or a path); overrides --profile."),
         override: list[str] = typer.Argument(None, help="key=value overrides of the recipe.")):
    """Run the whole pipeline on the embedded default; writes OUT/report.md and OUT/headline.json."""
    from cancerllm.experiments.demo.run import run_demo
    report = run_demo(out, recipe, override or [], profile=profile)
    typer.echo(f"report: {report}")


def main() -> None:
    try:
        app()
    except CancerLLMError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
