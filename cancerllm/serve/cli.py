"""CLI commands of the serve stage: thin shells over this package's functions.

They are added at the top level of `cancerllm` (`cancerllm extract ...`), since they are
what a user of a trained model runs: one command per served task (extract, diagnose,
plan: one note; made from the task registry, so a plugin task gets its own), predict (a
file) and serve (HTTP).
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True, help="serve stage")

MODEL = typer.Option(..., "--model", help="Local model directory (hub names are refused: offline).")
ADAPTER = typer.Option(None, "--adapter", help="LoRA adapter directory (peft).")
TEXT = typer.Option(None, "--text", help="The note text.")
FILE = typer.Option(None, "--file", help="A UTF-8 text file holding the note.")
DEVICE = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda when available).")
MAX_NEW = typer.Option(None, "--max-new-tokens", help="Lower the task's new-token limit.")
NUM_BEAMS = typer.Option(1, help="Beam search over N beams (1: greedy), e.g. 2 for diagnoses as the demo scores them.")
QUANTIZATION = typer.Option(None, "--quantization",
                            help="4bit or 8bit: load the base quantized (bitsandbytes, CUDA only).")


JSON = typer.Option(False, "--json", help="Print the full result as JSON.")


def _note_command(spec):
    """The `cancerllm <command>` of one served task (registry: `TaskSpec.command`)."""
    def show(result: dict, as_json: bool) -> None:
        if as_json or spec.result != "generation":
            typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            typer.echo(result["prediction"])

    def run(model, adapter, text, file, device, max_new_tokens, as_json, num_beams) -> None:
        from cancerllm.serve import infer
        note = infer.read_note(text, file)
        show(infer.run_note(spec.command, note, model, adapter, device=device, max_new_tokens=max_new_tokens,
                            num_beams=num_beams), as_json)

    if spec.result == "generation":
        def command(model: str = MODEL, adapter: str = ADAPTER, text: str = TEXT, file: str = FILE,
                    device: str = DEVICE, max_new_tokens: int = MAX_NEW, as_json: bool = JSON,
                    num_beams: int = NUM_BEAMS):
            run(model, adapter, text, file, device, max_new_tokens, as_json, num_beams)
        shown = "the prediction (--json: the full result)"
    else:
        def command(model: str = MODEL, adapter: str = ADAPTER, text: str = TEXT, file: str = FILE,
                    device: str = DEVICE, max_new_tokens: int = MAX_NEW, num_beams: int = NUM_BEAMS):
            run(model, adapter, text, file, device, max_new_tokens, True, num_beams)
        shown = "JSON: values with character offsets"
    command.__doc__ = f"{spec.description} Task {spec.name!r}, one note; prints {shown}."
    return command


def _add_task_commands() -> None:
    import sys

    from cancerllm.errors import ConfigError
    from cancerllm.tasks.registry import served_tasks
    try:
        specs = served_tasks()
    except ConfigError as exc:  # e.g. a CANCERLLM_PLUGINS module that cannot be imported: one line, no traceback
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    for spec in specs:
        app.command(spec.command)(_note_command(spec))


_add_task_commands()


@app.command()
def predict(task: str = typer.Option(..., help="A served task's command or name: extract|diagnose|plan "
                                                "(or phenotype|diagnosis|treatment), or a plugin task's."),
            model: str = MODEL, adapter: str = ADAPTER,
            input: str = typer.Option(..., "--input", help="JSONL of notes: id + text per line."),
            output: str = typer.Option(..., "--output", help="JSONL results, appended; rerun to resume."),
            batch_size: int = typer.Option(16, help="Notes per generation step."),
            text_field: str = typer.Option("text", help="Field holding the note text."),
            max_chars: int = typer.Option(100_000, help="Longer notes get an error entry."),
            device: str = DEVICE, max_new_tokens: int = MAX_NEW,
            progress: bool = typer.Option(True, help="Show a progress bar."),
            quantization: str = QUANTIZATION, num_beams: int = NUM_BEAMS):
    """Answer every note of a JSONL file; bad records get error entries, a rerun resumes."""
    from cancerllm.models.loading import quantization_kwargs
    from cancerllm.serve.predict import predict as run_predict
    quantization_kwargs(quantization, device)  # a clear error now, not after reading the notes
    counts = run_predict(task, model, input, output, adapter, batch_size=batch_size, text_field=text_field,
                         max_chars=max_chars, device=device, max_new_tokens=max_new_tokens, progress=progress,
                         quantization=quantization, num_beams=num_beams)
    typer.echo(json.dumps(counts))


@app.command()
def serve(model: str = MODEL,
          adapter: list[str] = typer.Option(None, "--adapter",
                                            help="Adapter DIR for all tasks, or TASK=DIR; repeatable."),
          heads: str = typer.Option(None, help="A trained staging system's folder: LoRA heads, cached heads, the "
                                              "classical model ... (enables /v1/stage)."),
          host: str = typer.Option("127.0.0.1", help="Address to bind; not loopback => token required."),
          port: int = typer.Option(8000, help="Port."),
          token_file: str = typer.Option(None, help="File holding the bearer token (else env CANCERLLM_API_TOKEN)."),
          batch_size: int = typer.Option(16, help="Generation batch size."),
          max_wait_ms: float = typer.Option(5.0, help="How long a request waits for others to batch with."),
          device: str = DEVICE, max_new_tokens: int = MAX_NEW,
          log_text: bool = typer.Option(False, "--log-text", help="Log note texts (debugging only; PHI!)."),
          max_request_prompts: int = typer.Option(1024, help="Prompts one request may make (413 past it)."),
          max_queued_prompts: int = typer.Option(4096, help="Prompts queued over all requests (429 past it)."),
          request_timeout: float = typer.Option(120.0, "--request-timeout",
                                                help="Seconds a request may wait for its answer (504 past it)."),
          quantization: str = QUANTIZATION, num_beams: int = NUM_BEAMS):
    """HTTP service: POST /v1/extract|diagnose|plan|stage, GET /health, /v1/model."""
    from cancerllm.models.loading import quantization_kwargs
    from cancerllm.serve.http import serve as run_serve
    quantization_kwargs(quantization, device)
    run_serve(model, adapter or None, heads, host, port, token_file, batch_size=batch_size,
              max_wait_ms=max_wait_ms, device=device, max_new_tokens=max_new_tokens, log_text=log_text,
              max_request_prompts=max_request_prompts, max_queued_prompts=max_queued_prompts,
              request_timeout_s=request_timeout, quantization=quantization, num_beams=num_beams)


def register(main_app: typer.Typer) -> None:
    """Add the user-facing inference commands (extract, diagnose, plan, predict, serve) to the main CLI."""
    main_app.registered_commands.extend(app.registered_commands)


@app.command()
def stage(system: str = typer.Option("classical", help="rules, classical, cancer_type_prior, heads, heads_cached (or a plugin's)."),
          model: str = typer.Option(None, "--model", help="The model folder the system's training wrote."),
          text: str = TEXT, file: str = FILE, device: str = DEVICE):
    """Stage a pathology report: per field the label, probabilities and the evidence span, as JSON."""
    from cancerllm.serve import infer
    from cancerllm.serve.staging import load_stager
    note = infer.read_note(text, file)
    typer.echo(json.dumps(load_stager(system, model, device)([note])[0], indent=2, ensure_ascii=False))
