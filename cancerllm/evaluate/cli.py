"""CLI commands of the evaluate stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="evaluate stage")


@app.command()
def score(predictions: str = typer.Option(..., help="Predictions JSONL (id, prediction)."),
          references: str = typer.Option(..., help="References JSONL (id, response)."),
          per_instance: str = typer.Option(None, help="Write per-id P/R/F1 and tokens to this JSONL."),
          mode: str = typer.Option("reference", help="reference (the paper's evaluation) or standard."),
          out: str = typer.Option(None, help="Write the aggregate metrics to this JSON file.")):
    """Exact Match, BLEU-2, ROUGE-L (P/R/F1 x 100) and average F1, as in the paper's tables."""
    from cancerllm.evaluate.scoring import format_aggregate, score_files
    from cancerllm.io import atomic_write_json, atomic_write_jsonl

    result = score_files(predictions, references, mode=mode)
    if per_instance:
        atomic_write_jsonl(per_instance, result.per_instance)
    if out:
        atomic_write_json(out, result.aggregate)
    typer.echo(format_aggregate(result.aggregate))


@app.command()
def errors(predictions: str = typer.Option(..., help="Predictions JSONL (id, prediction)."),
           references: str = typer.Option(..., help="References JSONL (id, response, task)."),
           task: str = typer.Option(None, help="Only this task (records without a task field count as it)."),
           abbreviations: str = typer.Option(None, help="Extra abbreviations: JSON {abbr: [expansions]} or TSV."),
           out: str = typer.Option(None, help="Folder for errors.jsonl, error_counts.csv/.md.")):
    """Sort wrong predictions into incomplete, redundant, irrelevant, repeated, abbreviation, other."""
    from cancerllm.evaluate.error_analysis import (analyse_error_files, format_counts_markdown,
                                                   write_error_report)

    report = analyse_error_files(predictions, references, task=task,
                                 abbreviations_path=abbreviations)
    if out:
        write_error_report(report, out)
    typer.echo(format_counts_markdown(report))
