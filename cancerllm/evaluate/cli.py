"""CLI commands of the evaluate stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings

app = typer.Typer(no_args_is_help=True, help="evaluate stage")

QUANTIZATION = typer.Option(None, "--quantization",
                            help="4bit or 8bit: load the base quantized (bitsandbytes, CUDA only).")
NUM_BEAMS = typer.Option(1, help="Beam search over N beams, every task and model alike (1: greedy); hf backend only.")


@app.command()
@old_spellings(out="--out")
def generate(model: str = typer.Option(..., help="Local model directory (hub names are refused)."),
             adapter: str = typer.Option(None, help="LoRA adapter directory (evaluated unmerged)."),
             task: str = typer.Option(..., help="Registered task (phenotype, diagnosis, treatment, ...)."),
             tasks_dir: str = typer.Option(..., help="Task datasets folder (cancerllm data tasks --output)."),
             split: str = typer.Option("test", help="Split file TASKS/<task>/<split>.jsonl."),
             out: str = typer.Option(..., "--output", help="Predictions JSONL (appended; rerun resumes)."),
             batch_size: int = typer.Option(16, help="Prompts per generation batch."),
             limit: int = typer.Option(None, help="Only the first N records of the split."),
             max_input_tokens: int = typer.Option(None, help="Override the task's input-token limit."),
             max_new_tokens: int = typer.Option(None, help="Override the task's new-token limit."),
             num_beams: int = NUM_BEAMS,
             backend: str = typer.Option("auto", help="auto, hf or vllm (vllm: GPU + package only)."),
             device: str = typer.Option(None, help="cpu, cuda, ... (default: cuda when available)."),
             progress: bool = typer.Option(True, help="Progress on stderr: a bar, or 'n/N, ETA' lines in a log."),
             quantization: str = QUANTIZATION):
    """Batched generation (greedy, or beam search with --num-beams) over a task split; writes OUT
    and OUT's .stats.json."""
    import json

    from cancerllm.evaluate.predictions import generate_predictions
    from cancerllm.tasks.store import read_split
    from cancerllm.evaluate.progress import already_done, generation_progress
    from cancerllm.models.loading import quantization_kwargs

    quantization_kwargs(quantization, device)  # a clear error before reading anything
    records = read_split(tasks_dir, task, split)
    total = len(records) if limit is None else min(limit, len(records))
    with generation_progress(task, total, already_done(out, records, limit), enabled=progress) as report:
        stats = generate_predictions(model, task, records, out, adapter_dir=adapter, batch_size=batch_size,
                                     max_input_tokens=max_input_tokens, max_new_tokens=max_new_tokens,
                                     device=device, backend=backend, limit=limit, progress=report,
                                     quantization=quantization, num_beams=num_beams)
    keys = ["task", "model", "n_instances", "n_generated", "n_resumed", "n_truncated", "wall_seconds",
            "tokens_per_second", "peak_memory_mb", "memory_kind", "device", "backend", "quantization"]
    typer.echo(json.dumps({k: getattr(stats, k) for k in keys}))


@app.command()
@old_spellings(out="--out")
def score(predictions: str = typer.Option(..., help="Predictions JSONL (id, prediction)."),
          references: str = typer.Option(..., help="References JSONL (id, response)."),
          per_instance: str = typer.Option(None, help="Write per-id P/R/F1 and tokens to this JSONL."),
          mode: str = typer.Option("reference", help="reference (the paper's evaluation) or standard."),
          out: str = typer.Option(None, "--output", help="Write the aggregate metrics to this JSON file.")):
    """Exact Match, BLEU-2, ROUGE-L (P/R/F1 x 100) and average F1, as in the paper's tables."""
    from cancerllm.evaluate.scoring import format_aggregate, score_files
    from cancerllm.io import atomic_write_json, atomic_write_jsonl

    result = score_files(predictions, references, mode=mode)
    if per_instance:
        atomic_write_jsonl(per_instance, result.per_instance)
    if out:
        atomic_write_json(out, result.aggregate)
    typer.echo(format_aggregate(result.aggregate))


@app.command("compare")
@old_spellings(out="--out", tasks="--tasks")
def compare_cmd(
    tasks_dir: str = typer.Option(..., help="Task datasets folder (cancerllm data tasks --output)."),
    out: str = typer.Option(..., "--output", help="Output folder: tables (Markdown + CSV), results.json, scores/, "
                                      "predictions/, average_f1.png (Figure 1)."),
    model: list[str] = typer.Option(None, "--model", help="name=MODEL[:ADAPTER], repeatable: a local model "
                                                         "folder, optionally with a LoRA adapter folder."),
    baseline: list[str] = typer.Option(None, "--baseline", help="Registered baseline, repeatable: rules, majority."),
    tasks: str = typer.Option("all", "--task", help="'all' or a comma list of tasks."),
    split: str = typer.Option("test", help="Split scored: TASKS/<task>/<split>.jsonl."),
    limit: int = typer.Option(None, help="Only the first N records of each task's split."),
    batch_size: int = typer.Option(16, help="Prompts per generation batch."),
    max_new_tokens: int = typer.Option(None, help="Cap every task's new tokens below its paper limit."),
    num_beams: int = NUM_BEAMS,
    mode: str = typer.Option("reference", help="reference (the paper's evaluation) or standard."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% CIs (0: none)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
    floor: str = typer.Option(None, help="System drawn as a line in Figure 1 (default: majority, if run)."),
    pair: list[str] = typer.Option(None, "--pair", help="A,B: paired bootstrap CI of A - B per task, repeatable."),
    progress: bool = typer.Option(True, help="Progress on stderr per model and task: a bar, or 'n/N, ETA' lines."),
    quantization: str = QUANTIZATION,
    backend: str = typer.Option("auto", help="auto, hf or vllm (vllm: GPU + package only)."),
):
    """Tables 2-4 and 7, Figure 1, per-question scores and bootstrap CIs for models and baselines."""
    from cancerllm.errors import ConfigError
    from cancerllm.evaluate.compare import compare_models, parse_model_refs
    from cancerllm.models.loading import quantization_kwargs
    quantization_kwargs(quantization)
    if not model and not baseline:
        raise typer.BadParameter("give at least one --model or --baseline", param_hint="--model")
    pairs = []
    for p in pair or []:
        a, sep, b = p.partition(",")
        if not sep or not a.strip() or not b.strip():
            raise ConfigError(f"--pair {p!r} is not A,B")
        pairs.append((a.strip(), b.strip()))
    compare_models(parse_model_refs(model or []), tasks, tasks_dir, out, split, limit, batch_size, mode,
                   max_new_tokens, baselines=baseline or [], n_boot=n_boot, seed=seed, floor=floor, pairs=pairs,
                   progress=progress, quantization=quantization, backend=backend, num_beams=num_beams)
    from pathlib import Path
    typer.echo((Path(out) / "tables.md").read_text())
    typer.echo(f"tables, results.json and average_f1.png in {out}")


@app.command()
@old_spellings(out="--out")
def errors(predictions: str = typer.Option(..., help="Predictions JSONL (id, prediction)."),
           references: str = typer.Option(..., help="References JSONL (id, response, task)."),
           task: str = typer.Option(None, help="Only this task (records without a task field count as it)."),
           abbreviations: str = typer.Option(None, help="Extra abbreviations: JSON {abbr: [expansions]} or TSV."),
           out: str = typer.Option(None, "--output", help="Folder for errors.jsonl, error_counts.csv/.md.")):
    """Sort wrong predictions into incomplete, redundant, irrelevant, repeated, abbreviation, other."""
    from cancerllm.evaluate.error_analysis import (analyse_error_files, format_counts_markdown,
                                                   write_error_report)

    report = analyse_error_files(predictions, references, task=task,
                                 abbreviations_path=abbreviations)
    if out:
        write_error_report(report, out)
    typer.echo(format_counts_markdown(report))


@app.command("heads")
@old_spellings(out="--out")
def heads_cmd(
    model: str = typer.Option(..., help="Heads model folder, a --single-task folder, or (--zero-shot) a causal LM."),
    data: str = typer.Option(..., help="pathology.jsonl, a corpus folder, or a folder with train/validation/test.jsonl."),
    out: str = typer.Option(..., "--output", help="Folder for predictions.jsonl and metrics.json."),
    split: str = typer.Option("test", help="train, validation or test (same patient split as training)."),
    split_seed: int = typer.Option(0, help="Seed of the patient split; must match the training recipe's."),
    zero_shot: bool = typer.Option(False, "--zero-shot", help="Prompt MODEL with the schema questions instead."),
    base_model: str = typer.Option(None, help="Base model folder, if moved since training."),
    batch_size: int = typer.Option(8, help="Reports per batch (zero-shot: sequences per batch)."),
    limit: int = typer.Option(None, help="Only the first N reports of the split."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% CIs (0: none)."),
):
    """Per-field macro F1 (coarse with/without NR, fine) and confusion matrices for staging heads."""
    from cancerllm.evaluate.heads import evaluate_heads, format_scores
    metrics = evaluate_heads(model, data, out, split=split, batch_size=batch_size, zero_shot=zero_shot,
                             split_seed=split_seed, base_model=base_model, limit=limit, n_boot=n_boot)
    typer.echo(format_scores(metrics))


@app.command("staging")
def staging_cmd(
    data: str = typer.Option(..., help="Pathology records: pathology.jsonl, a corpus folder, or train/validation/test.jsonl."),
    system: str = typer.Option("rules,classical,cancer_type_prior",
                               help="Comma-separated staging systems (registry; plugins too); NAME=DIR loads a trained one."),
    out: str = typer.Option(..., "--output", help="Folder for predictions/, staging_scores.* and staging_report.md."),
    split: str = typer.Option("test", help="The split scored (systems are fitted on train, chosen on validation)."),
    fields: str = typer.Option(None, help="Comma-separated fields (default: all of the schema)."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% CIs (0: none)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
):
    """Staging systems fitted and scored side by side: macro F1 per field with 95% CIs."""
    from cancerllm.evaluate.staging_compare import eval_staging
    field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    summary = eval_staging(data, out, [s for s in system.split(",") if s.strip()], split=split, fields=field_list,
                           n_boot=n_boot, seed=seed)
    for name, s in summary["systems"].items():
        h = s["headline"] or {}
        ci = f" [{h['ci_low']:.1f}, {h['ci_high']:.1f}]" if h.get("ci_low") is not None else ""
        typer.echo(f"{name}: headline macro F1 {h.get('macro_f1', float('nan')):.1f}{ci} ({s['how']})")
    typer.echo(f"{summary['n_reports']} {summary['split']} reports; report: {summary['files']['markdown']}")


@app.command("staging-rules")
@old_spellings(out="--out")
def staging_rules_cmd(
    reports: str = typer.Option(..., "--reports", help="Reports JSONL (id, text; labels for scoring)."),
    out: str = typer.Option(..., "--output", help="Folder for predictions.jsonl and the staging report."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95% CIs (0: none)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap."),
):
    """Rule-based pT/pN/M/grade/ER/PR/HER2 extraction, scored where reports carry gold labels."""
    from cancerllm.evaluate.staging_report import eval_staging_rules
    summary = eval_staging_rules(reports, out, n_boot=n_boot, seed=seed)
    head = summary.get("headline") or {}
    typer.echo(f"{summary['n_reports']} reports, {len(summary['skipped'])} skipped; predictions: "
               f"{summary['predictions']}")
    if head.get("macro_f1") is not None:
        typer.echo(f"headline coarse macro F1: {head['macro_f1']:.1f} "
                   f"[{head['ci_low']:.1f}, {head['ci_high']:.1f}]; report: {summary['files']['markdown']}")


@app.command("perplexity")
@old_spellings(out="--out")
def perplexity_cmd(
    model: str = typer.Option(..., help="Local causal-LM directory (hub names are refused)."),
    data: str = typer.Option(..., help="Texts: JSONL (text field), CSV, txt or Parquet, file or folder."),
    adapter: str = typer.Option(None, help="LoRA adapter directory (evaluated unmerged)."),
    text_field: str = typer.Option("text", help="Field / column holding the text."),
    window: int = typer.Option(512, help="Tokens per window."),
    stride: int = typer.Option(256, help="Tokens between window starts (context >= window - stride)."),
    max_tokens: int = typer.Option(None, help="Keep only the first N tokens of each text."),
    limit: int = typer.Option(None, help="Only the first N texts."),
    batch_size: int = typer.Option(4, help="Windows per forward pass."),
    dtype: str = typer.Option(None, help="float32, bfloat16, ... (default: float32 on CPU)."),
    device: str = typer.Option(None, help="cpu, cuda, ... (default: cuda when available)."),
    out: str = typer.Option(None, "--output", help="Write the result to this JSON file."),
):
    """Sliding-window perplexity (and bits per byte) of a model, with or without an adapter."""
    import json

    from cancerllm.evaluate.perplexity import evaluate_perplexity
    from cancerllm.io import atomic_write_json
    result = evaluate_perplexity(model, data, adapter_dir=adapter, text_field=text_field, window=window,
                                 stride=stride, max_tokens=max_tokens, limit=limit, batch_size=batch_size,
                                 device=device, dtype=dtype)
    if out:
        atomic_write_json(out, result)
    typer.echo(json.dumps(result))
