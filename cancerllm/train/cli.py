"""CLI commands of the train stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings

app = typer.Typer(no_args_is_help=True, help="train stage")


@app.command("pretrain")
@old_spellings(out="--out")
def pretrain_cmd(
    recipe: str = typer.Option(None, help="Recipe name in recipes/ or a YAML path (default: by model size, "
                                          "pretrain-mistral7b over 500 M parameters, else pretrain-tiny)."),
    model: str = typer.Option(..., help="Local model directory to continue pre-training."),
    data: str = typer.Option(..., help="Packed corpus (DatasetDict on disk with input_ids blocks)."),
    out: str = typer.Option(..., "--output", help="Run folder: adapter/ or model/, checkpoints/, metrics."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT."),
    merge: bool = typer.Option(False, help="Also write OUT/merged: the adapter folded into the base."),
    allow_tiny_recipe: bool = typer.Option(False, "--allow-tiny-recipe",
                                           help="Run a *-tiny recipe on a model over 500 M parameters."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides, e.g. train.max_steps=20."),
):
    """Continued pre-training (next-token loss), LoRA on all linear layers or full-parameter."""
    from cancerllm.config import load_config
    from cancerllm.train.pretrain import PretrainConfig, pretrain
    from cancerllm.train.recipe_choice import choose_recipe
    recipe, why = choose_recipe("pretrain", model, recipe, allow_tiny_recipe)
    typer.echo(f"recipe: {why}")
    cfg = load_config(PretrainConfig, recipe, override or [])
    m = pretrain(model, data, out, cfg, resume=resume, merge=merge)
    typer.echo(f"steps {m['global_step']}, train loss {m['train_loss']:.4f}, eval loss {m['eval_loss']}, "
               f"{m['tokens_per_s']} tokens/s -> {m['output']}")


@app.command("finetune")
@old_spellings(out="--out")
def finetune_cmd(
    recipe: str = typer.Option(None, help="Recipe name in recipes/ or a YAML path (default: by model size, "
                                          "finetune-mistral7b over 500 M parameters, else finetune-tiny)."),
    model: str = typer.Option(..., help="Local model directory (e.g. a merged pre-trained model)."),
    tasks_dir: str = typer.Option(..., help="Task folder: TASKS/<task>/{train,validation}.jsonl."),
    task: str = typer.Option("all", help="phenotype, diagnosis, treatment, a comma list, or all."),
    out: str = typer.Option(..., "--output", help="Run folder (with --per-task: OUT/<task>/ each)."),
    per_task: bool = typer.Option(False, help="One adapter per task instead of one multi-task adapter."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT."),
    allow_tiny_recipe: bool = typer.Option(False, "--allow-tiny-recipe",
                                           help="Run a *-tiny recipe on a model over 500 M parameters."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides, e.g. lora.r=16."),
):
    """Instruction tuning with LoRA; the loss covers the response (and EOS) only."""
    from cancerllm.config import load_config
    from cancerllm.train.finetune import FinetuneConfig, finetune, finetune_per_task
    from cancerllm.train.recipe_choice import choose_recipe
    recipe, why = choose_recipe("finetune", model, recipe, allow_tiny_recipe)
    typer.echo(f"recipe: {why}")
    cfg = load_config(FinetuneConfig, recipe, override or [])
    if per_task:
        runs = finetune_per_task(model, tasks_dir, out, task, cfg, resume=resume)
    else:
        runs = {task: finetune(model, tasks_dir, out, task, cfg, resume=resume)}
    for name, m in runs.items():
        typer.echo(f"{name}: steps {m['global_step']}, train loss {m['train_loss']:.4f}, "
                   f"eval loss {m['eval_loss']}, {m['useful_tokens_per_s']} useful tokens/s -> {m['output']}")


@app.command("merge")
@old_spellings(out="--out")
def merge_cmd(
    adapter: str = typer.Option(..., help="LoRA adapter folder (adapter_config.json)."),
    out: str = typer.Option(..., "--output", help="Folder for the merged full model and its tokenizer."),
    base: str = typer.Option(None, help="Base model folder; default: the one the adapter names."),
    dtype: str = typer.Option("auto", help="Load/save dtype: auto, float32, bfloat16, float16."),
):
    """Fold a LoRA adapter into its base model (merge_and_unload) and save a model folder."""
    from cancerllm.train.merge import merge_adapter
    typer.echo(f"merged model: {merge_adapter(adapter, out, base, dtype)}")


@app.command("heads")
@old_spellings(out="--out")
def heads_cmd(
    recipe: str = typer.Option("heads-tiny", help="Recipe name in recipes/ or a YAML path."),
    model: str = typer.Option(..., help="Local base model directory (used as a LoRA-adapted encoder)."),
    data: str = typer.Option(..., help="pathology.jsonl, a corpus folder, or a folder with train/validation/test.jsonl."),
    out: str = typer.Option(..., "--output", help="Run folder = model folder (with --single-task: OUT/<field>/ each)."),
    fields: str = typer.Option(None, help="Comma-separated heads, e.g. pT,pN,grade (default: all seven)."),
    single_task: bool = typer.Option(False, "--single-task", help="One model per field (the baseline)."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in OUT."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides, e.g. model.pooling=mean."),
):
    """Multi-task staging/biomarker classification heads (pT, pN, M, grade, ER, PR, HER2) with LoRA."""
    from cancerllm.config import load_config
    from cancerllm.train.heads import HeadsTrainConfig, train_heads
    cfg = load_config(HeadsTrainConfig, recipe, override or [])
    field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    result = train_heads(model, data, out, cfg, fields=field_list, single_task=single_task, resume=resume)
    for name, m in (result.items() if single_task else [("heads", result)]):
        val = (m.get("validation") or {}).get("headline_coarse_macro_f1")
        typer.echo(f"{name}: steps {m['global_step']}, train loss {m['train_loss']:.4f}, "
                   f"validation headline macro F1 {val if val is None else round(val, 1)}")


@app.command("staging")
@old_spellings(out="--out")
def staging_cmd(
    system: str = typer.Option("classical", help="classical (TF-IDF + rule findings) or cancer_type_prior."),
    data: str = typer.Option(..., help="A folder with train/validation(/test).jsonl, pathology.jsonl, or a corpus folder."),
    out: str = typer.Option(..., "--output", help="Model folder: model.joblib, classical.json, metrics.json."),
    recipe: str = typer.Option("staging-classical", help="Recipe name in recipes/ or a YAML path."),
    fields: str = typer.Option(None, help="Comma-separated fields, e.g. pT,pN,M (default: the recipe's)."),
    override: list[str] = typer.Argument(None, help="key=value recipe overrides, e.g. C_grid=[1,10]."),
):
    """Classical staging models trained in seconds on a CPU; settings chosen on the validation split."""
    from cancerllm.baselines.staging_classical import ClassicalConfig, train_staging
    from cancerllm.config import load_config
    cfg = load_config(ClassicalConfig, recipe, override or [])
    field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    m = train_staging(data, out, system, cfg, field_list)
    chosen = ", ".join(f"{f} C={s['C']:g} (dev {max(s['dev_macro_f1'].values(), default=0):.1f})"
                       for f, s in m["selection"].items() if isinstance(s, dict) and "C" in s)
    typer.echo(f"{system}: {m['n_train']} train / {m['n_dev']} dev records; {chosen} -> {m['output']}")
