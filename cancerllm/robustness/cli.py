"""CLI commands of the robustness stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings

app = typer.Typer(no_args_is_help=True, help="robustness stage")


def _echo_curves(summary: dict) -> None:
    for task, curve in summary["curves"].items():
        for c in curve:
            extra = ""
            if "average_f1_normalized" in c:
                rec = c.get("recovered_share")
                extra = (f", normalised {c['average_f1_normalized']:.2f}, recovered "
                         f"{'-' if rec is None else f'{100 * rec:.0f}%'}")
            all_words = c.get("measured_rate_all_words")
            of_all = f", {100 * all_words:.1f}% of all words" if all_words is not None else ""
            typer.echo(f"{task} rate {c['rate']:g} (measured {100 * c['measured_rate']:.1f}% of eligible words"
                       f"{of_all}): "
                       f"average F1 {c['average_f1']:.2f}{extra}")
    typer.echo(f"tables, results.json and average_f1.png in {summary['out']}")


@app.command("counterfactual")
@old_spellings(out="--out")
def counterfactual_cmd(
    model: str = typer.Option(..., help="Local base model directory to fine-tune at every rate."),
    tasks_dir: str = typer.Option(..., help="Task folder with phenotype/{train,validation,test}.jsonl."),
    out: str = typer.Option(..., "--output", help="Run folder (rerun with the same settings to resume)."),
    rates: str = typer.Option("0.2,0.4,0.6,0.8", help="Shares of training instances to mislabel; 0 is always added."),
    recipe: str = typer.Option(None, help="Fine-tuning recipe, the same at every rate (default: by model size, "
                                          "finetune-mistral7b over 500 M parameters, else finetune-tiny)."),
    allow_tiny_recipe: bool = typer.Option(False, "--allow-tiny-recipe",
                                           help="Run a *-tiny recipe on a model over 500 M parameters."),
    seed: int = typer.Option(0, help="Seed of the corrupted instances and the training subset."),
    limit_test: int = typer.Option(None, help="Only the first N phenotype test records."),
    batch_size: int = typer.Option(16, help="Prompts per generation batch."),
    max_new_tokens: int = typer.Option(None, help="Override the task's new-token limit."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides, e.g. train.max_steps=20."),
):
    """Fine-tune on phenotype data with a share of wrong answers; score on the clean test split."""
    from cancerllm.robustness.testbeds import run_counterfactual
    from cancerllm.train.recipe_choice import choose_recipe
    recipe, why = choose_recipe("finetune", model, recipe, allow_tiny_recipe)
    typer.echo(f"recipe: {why}")
    _echo_curves(run_counterfactual(model, tasks_dir, out, rates, recipe, override or [], seed, limit_test,
                                    batch_size, max_new_tokens))


@app.command("misspell")
@old_spellings(out="--out", tasks="--tasks")
def misspell_cmd(
    model: str = typer.Option(..., help="Local model directory (hub names are refused)."),
    adapter: str = typer.Option(None, help="LoRA adapter directory (evaluated unmerged)."),
    tasks_dir: str = typer.Option(..., help="Task folder (cancerllm data tasks --output)."),
    out: str = typer.Option(..., "--output", help="Run folder (rerun with the same settings to resume)."),
    rates: str = typer.Option("0.02,0.04,0.06,0.08,0.2,0.4,0.6,0.8",
                              help="Shares of the words to misspell; 0 is always added."),
    tasks: str = typer.Option("diagnosis,treatment", "--task", help="Tasks whose test inputs are misspelled."),
    normalize_spelling: bool = typer.Option(False, "--normalize-spelling",
                                            help="Also evaluate on inputs corrected by the spelling normaliser."),
    vocab_from: str = typer.Option(None, help="Clean text for the normaliser's vocabulary: a task or corpus "
                                   "folder, JSONL/txt file, or saved vocabulary .json (default: the tasks' "
                                   "train splits)."),
    abbreviations: str = typer.Option(None, help="Abbreviation list or folder of lists the normaliser keeps."),
    seed: int = typer.Option(0, help="Seed of the misspellings."),
    limit: int = typer.Option(None, help="Only the first N test records per task."),
    batch_size: int = typer.Option(16, help="Prompts per generation batch."),
    max_new_tokens: int = typer.Option(None, help="Override the task's new-token limit."),
    where: str = typer.Option("test", help="What is misspelled: test (inputs at evaluation), train (the "
                                           "training inputs, fine-tuning at every rate, as the paper) or both."),
    basis: str = typer.Option("eligible", help="The rate is a share of the 'eligible' words or of 'all' words; "
                                               "both measured rates are reported."),
    recipe: str = typer.Option(None, help="Fine-tuning recipe for --where train/both (default: by model size)."),
    allow_tiny_recipe: bool = typer.Option(False, "--allow-tiny-recipe",
                                           help="Run a *-tiny recipe on a model over 500 M parameters."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides (--where train/both)."),
):
    """Misspell a share of the words of the test (or training) inputs; score with and without the normaliser."""
    from cancerllm.robustness.testbeds import run_misspell
    if where != "test":
        from cancerllm.train.recipe_choice import choose_recipe
        recipe, why = choose_recipe("finetune", model, recipe, allow_tiny_recipe)
        typer.echo(f"recipe: {why}")
    _echo_curves(run_misspell(model, tasks_dir, out, rates, adapter, tasks, normalize_spelling, vocab_from,
                              abbreviations, seed, limit, batch_size, max_new_tokens, where=where, basis=basis,
                              recipe=recipe, overrides=override or []))


@app.command("compare")
@old_spellings(out="--out")
def compare_cmd(
    run: list[str] = typer.Option(..., "--run", help="NAME=DIR of a finished testbed run, repeatable."),
    out: str = typer.Option(..., "--output", help="Folder for table_<task>.csv, tables.md, summary.json."),
):
    """Several models' testbed runs side by side with the mean over rates (Tables 5 and 6)."""
    from cancerllm.errors import ConfigError
    from cancerllm.robustness.side_by_side import side_by_side
    runs = {}
    for item in run:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--run {item!r} is not NAME=DIR")
        runs[name] = path
    side_by_side(runs, out)
    from pathlib import Path
    typer.echo((Path(out) / "tables.md").read_text())
