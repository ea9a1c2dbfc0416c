"""CLI commands of the data stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings

app = typer.Typer(no_args_is_help=True, help="data stage")


@app.command("synth")
@old_spellings(out="--out")
def synth_cmd(
    out: str = typer.Option(..., "--output", help="Output folder: patients/notes/pathology/phenotypes JSONL + manifest.json."),
    patients: int = typer.Option(200, help="Number of synthetic patients."),
    seed: int = typer.Option(0, help="Seed; the same seed gives byte-identical files."),
):
    """Write a synthetic oncology corpus (clinic notes, pathology reports, phenotype spans, planted PHI)."""
    from cancerllm.data.synth import generate
    counts = generate(out, patients=patients, seed=seed)
    typer.echo(", ".join(f"{name} {n}" for name, n in counts.items()) + f" -> {out}")


@app.command("sections")
@old_spellings(out="--out")
def sections_cmd(
    notes: str = typer.Argument(..., help="Clinic notes: a JSONL/CSV/TSV/Parquet/txt file or folder."),
    sections: str = typer.Option(None, "--sections", help="YAML of extra note headers (layout of "
                                                          "cancerllm/data/section_headers.yaml)."),
    text_field: str = typer.Option("text", help="Field / column holding the note text."),
    id_field: str = typer.Option("id", help="Field / column holding the note id."),
    patient_field: str = typer.Option("patient_id", help="Field / column holding the patient id."),
    min_unknown: int = typer.Option(3, help="List an unrecognised header only if this many notes have it."),
    out: str = typer.Option(None, "--output", help="Also write the report as JSON here."),
):
    """Section coverage before training: headers recognised, notes lacking each needed section."""
    from cancerllm.data.section_coverage import format_coverage, section_coverage
    from cancerllm.io import atomic_write_json
    report = section_coverage(notes, sections, text_field, id_field, patient_field, min_unknown)
    if out:
        atomic_write_json(out, report)
    typer.echo(format_coverage(report))


def split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """(input paths, key=value overrides) of positional arguments, as `train ...` takes them.

    An item is an override when it reads KEY=VALUE (KEY a dotted name) and is not an
    existing path, so a file whose name holds "=" is still read as an input.
    """
    import re
    from pathlib import Path
    paths, overrides = [], []
    for item in items:
        is_override = re.match(r"^[A-Za-z_][\w.]*=", item) and not Path(item).exists()
        (overrides if is_override else paths).append(item)
    return paths, overrides


@app.command("corpus")
@old_spellings(out="--out")
def corpus_cmd(
    items: list[str] = typer.Argument(None, metavar="[INPUT]... [KEY=VALUE]...",
                                      help="Files or folders of notes (or --input), and key=value overrides "
                                           "of the corpus settings, e.g. block_size=256."),
    inputs: list[str] = typer.Option(None, "--input", help="File or folder (txt/CSV/JSONL/Parquet) of notes; "
                                                          "repeatable."),
    out: str = typer.Option(..., "--output", help="Output folder: clean/ JSONL, packed/ blocks, corpus.json."),
    tokenizer: str = typer.Option(None, help="Tokenizer or model folder; when given, also tokenize and pack."),
    recipe: str = typer.Option(None, help="YAML recipe with a `corpus:` section."),
    old_override: list[str] = typer.Option(None, "--set", hidden=True, help="Old spelling of KEY=VALUE."),
    tasks_dir: str = typer.Option(None, help="Task datasets folder (data tasks --output): the notes its records "
                                             "come from are left out of the corpus, as in the paper."),
    include_task_notes: bool = typer.Option(False, "--include-task-notes",
                                            help="Keep the instruction-tuning notes in the corpus (not the paper)."),
):
    """Clean, de-duplicate, split by patient, and (with --tokenizer) pack the pre-training corpus."""
    from cancerllm.config import load_config
    from cancerllm.data.corpus import CorpusConfig, build_corpus
    given, override = split_overrides(items or [])
    inputs = list(inputs or []) + given
    override += list(old_override or [])
    if not inputs:
        raise typer.BadParameter("give the notes: --input FILE_OR_FOLDER (repeatable)", param_hint="--input")
    cfg = load_config(CorpusConfig, recipe, override, section="corpus" if recipe else None)
    if tasks_dir:
        cfg = cfg.model_copy(update={"tasks_dir": tasks_dir})
    if include_task_notes:
        cfg = cfg.model_copy(update={"include_task_notes": True})
    s = build_corpus(inputs, out, cfg, tokenizer)
    typer.echo(f"read {s['read']}, kept {s['kept']}, exact dups {s['exact_duplicates']}, "
               f"near dups {s['near_duplicates']}, short {s['empty_or_short']}, "
               f"test patients held out {s['held_out_test_patients']}, "
               f"instruction-tuning notes left out {s['task_notes_excluded']}, skipped records {s['n_skipped_records']}")
    if s["task_notes"] == "not checked":
        typer.echo("note: instruction-tuning notes were not checked (no --tasks-dir): the paper keeps them out "
                   "of the pre-training corpus")
    if "packed" in s:
        typer.echo(f"packed: {s['packed']['blocks']} blocks of {s['packed']['block_size']} tokens")


@app.command("read")
def read_cmd(
    path: str = typer.Argument(..., help="A file or folder of notes (txt/CSV/TSV/JSONL/Parquet, .gz allowed)."),
    text_field: str = typer.Option("text", help="Field or column holding the note text."),
    id_field: str = typer.Option("id", help="Field or column holding the document id."),
    patient_field: str = typer.Option("patient_id", help="Field or column holding the patient id."),
    fmt: str = typer.Option(None, "--format", help="Override detection by extension: txt, csv, tsv, jsonl, parquet."),
    max_errors: int = typer.Option(20, help="How many skipped records to list with file:line and reason."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON instead."),
):
    """Read an input as the corpus stage would and report records read, skipped and why (no note text)."""
    import json
    from cancerllm.data.readers import iter_documents
    stream = iter_documents(path, text_field, id_field, patient_field, fmt)
    for _ in stream:
        pass
    if json_out:
        typer.echo(json.dumps(stream.report.to_dict(), indent=2))
    else:
        typer.echo(stream.report.summary(max_errors))


@app.command("deid")
@old_spellings(out="--out", inp="--in")
def deid_cmd(
    inp: str = typer.Option(..., "--input", help="File or folder of notes (txt/CSV/TSV/JSONL/Parquet)."),
    out: str = typer.Option(..., "--output", help="Output JSONL: the records with identifiers replaced."),
    text_field: str = typer.Option("text", help="Field (column) holding the note text."),
    date_shift_seed: str = typer.Option(None, help="Secret keying each patient's date shift; keep it apart "
                                                   "from the output (visible in ps: prefer the file or "
                                                   "env CANCERLLM_DEID_SECRET). Without any: random, this run only."),
    date_shift_seed_file: str = typer.Option(None, help="File whose content is the date-shift secret."),
    report: str = typer.Option(None, help="Write counts by type and skipped records (file:line) here, as JSON."),
    id_field: str = typer.Option("id", help="Field holding the record id."),
    patient_field: str = typer.Option("patient_id", help="Field holding the (pseudonymous) patient id."),
):
    """Replace names, dates (shifted per patient), record numbers, phones, addresses, e-mails, ages > 89."""
    from cancerllm.data.deid import deidentify
    s = deidentify(inp, out, text_field, date_shift_seed, report, id_field, patient_field, date_shift_seed_file)
    replaced = ", ".join(f"{t} {n}" for t, n in s["replaced"].items()) or "nothing"
    typer.echo(f"read {s['records_read']}, written {s['records_written']}, skipped {s['n_skipped']}; "
               f"replaced: {replaced}")
    for line in s["skipped"][:20]:
        typer.echo(f"  skipped {line}")
    if s["n_skipped"] > 20:
        typer.echo(f"  ... and {s['n_skipped'] - 20} more")
