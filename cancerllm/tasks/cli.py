"""The `cancerllm data tasks` command: build the instruction datasets (a thin shell over
`cancerllm.tasks.build.build_tasks`).

It lives here, not in `cancerllm/data/cli.py`, so the data package never imports the task
package (tasks read data, not the reverse); `cancerllm/cli.py` mounts it on the data
command group with `mount`, in the place it has always had there (after `synth`).
"""

from __future__ import annotations

import typer

from cancerllm.cli_options import old_spellings


@old_spellings(out="--out", corpus="--in", tasks="--tasks")
def tasks_cmd(
    corpus: str = typer.Option(None, "--input", help="Corpus folder (notes.jsonl, phenotypes.jsonl)."),
    out: str = typer.Option(..., "--output", help="Output folder: OUT/<task>/{train,validation,test}.jsonl + hf/."),
    tasks: str = typer.Option("all", "--task", help="'all' or a comma list of registered tasks."),
    seed: int = typer.Option(0, help="Patient partition seed (shared with the corpus stage)."),
    phenotype_context: str = typer.Option(
        "table10", help="Phenotype context form: 'table10' = \"In the text <sentence>, <question>\" "
                        "(the paper's Table 10), 'newline' = \"<sentence>\\n<question>\" (the older form)."),
    annotations: str = typer.Option(None, help="Annotated notes for the phenotype task: span JSON/JSONL, "
                                               "BIO/CoNLL file, or BRAT folder (instead of phenotypes.jsonl)."),
    annotation_format: str = typer.Option("auto", help="auto, spans, bio or brat."),
    label_map: str = typer.Option(None, help="YAML: annotation label -> entity type (null drops a label)."),
    ignore_labels: bool = typer.Option(False, "--ignore-labels",
                                       help="Drop labels that are not mapped (counted in summary.json) "
                                            "instead of stopping with the list of them."),
    patient_map: str = typer.Option(None, help="CSV (id,patient_id) or JSON: annotated note id -> patient."),
    notes: str = typer.Option(None, help="Clinic notes for diagnosis/treatment: a JSONL/CSV/TSV/Parquet file "
                                         "or folder (instead of notes.jsonl); sections parsed from the text."),
    text_field: str = typer.Option("text", help="Field / column of --notes holding the note text."),
    id_field: str = typer.Option("id", help="Field / column of --notes holding the note id."),
    patient_field: str = typer.Option("patient_id", help="Field / column of --notes holding the patient id."),
    sections: str = typer.Option(None, "--sections", help="YAML of extra note headers (layout of "
                                                          "cancerllm/data/section_headers.yaml)."),
):
    """Build the instruction datasets (phenotype, diagnosis, treatment), split 80/10/10 by patient."""
    from cancerllm.tasks.build import build_tasks
    from cancerllm.tasks.phenotype import CONTEXT_FORMS
    from cancerllm.tasks.registry import expand_tasks
    if phenotype_context not in CONTEXT_FORMS:
        raise typer.BadParameter(f"unknown phenotype context form {phenotype_context!r}; "
                                 f"known: {', '.join(CONTEXT_FORMS)}", param_hint="--phenotype-context")
    if not (corpus or notes or annotations):
        raise typer.BadParameter("give --input CORPUS, --notes and/or --annotations", param_hint="--input")
    options = {"context_form": phenotype_context} if "phenotype" in expand_tasks(tasks) else {}
    given = {"annotations": annotations, "annotation_format": None if annotation_format == "auto" else
             annotation_format, "label_map": label_map, "ignore_labels": ignore_labels or None,
             "patient_map": patient_map, "notes": notes, "header_map": sections}
    if notes:
        given.update(text_field=text_field, id_field=id_field, patient_field=patient_field)
    options.update({k: v for k, v in given.items() if v is not None})
    summary = build_tasks(corpus, out, tasks, seed, options=options)
    for task, counts in summary["counts"].items():
        skipped = summary["n_skipped"][task]
        typer.echo(f"{task}: " + ", ".join(f"{s} {n}" for s, n in counts.items())
                   + (f"; skipped {skipped} malformed record(s)" if skipped else ""))
        for line in summary["skipped"][task][:20]:
            typer.echo(f"  skipped {line}")
        for info in summary["inputs"].get(task, []):
            if info.get("dropped_labels"):
                typer.echo("  dropped labels: " + ", ".join(f"{k} ({n})" for k, n in info["dropped_labels"].items()))
            if info.get("documents_without_patient"):
                typer.echo(f"  {info['documents_without_patient']} annotated note(s) without a patient id: "
                           "each is its own patient in the split (give --patient-map)")


def mount(app: typer.Typer, after: str = "synth") -> None:
    """Register `tasks_cmd` as `tasks` on `app` (the data group), right after command `after`."""
    app.command("tasks")(tasks_cmd)
    commands = app.registered_commands
    mounted = commands.pop()
    names = [c.name for c in commands]
    commands.insert(names.index(after) + 1 if after in names else len(commands), mounted)
