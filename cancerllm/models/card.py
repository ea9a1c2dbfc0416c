"""Model cards a hospital can share: what the model is, what it was trained on, how good it is.

Why generated: peft writes a boilerplate README ("[More Information Needed]") with the
base model as an absolute path such as `/tmp/...` - useless to a reader and a leak of
the machine's layout. `write_model_card(run_dir, ...)` replaces it with a card built from
the run's own files (`config.yaml`, `run.json`, `train_metrics.json`, `adapter_config.json`
or `heads_config.json`) plus what only the caller knows (the data and whether it was
de-identified, evaluation scores with their CIs).

Rules the card keeps:
- the base model is named, never given as a path: the name is the caller's `base_name`,
  else the base's `config.json` `_name_or_path` when that is a hub-style name, else the
  last two parts of its folder ("base/model"); it is identified by a content hash
  (`model_hash`: SHA-256 over the weight, config and tokenizer files' own SHA-256s), so
  a reader can check they hold the same base without seeing anyone's disk;
- every absolute path in the embedded recipe is cut to its last two parts;
- the de-identification status is stated; when the caller does not give it, the card says
  it is unknown and must be settled before the model leaves the hospital.
The card is README.md (Hugging Face's convention, YAML front matter for the Hub's fields)
in each model folder of the run (`adapter/`, `merged/`, `model/`) or in `run_dir` itself
when that is a model folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import yaml

from cancerllm.errors import InputError
from cancerllm.io import markdown_table_lines

HASHED = ("*.safetensors", "*.bin", "config.json", "adapter_config.json", "heads_config.json",
          "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "merges.txt")
MODEL_SUBDIRS = ("adapter", "merged", "model")
_ABS_PATH = re.compile(r"(?<![\w.:/])(?:/[^\s'\"/:,|`)]+){2,}/?")

DEFAULT_USE = ("Research on the hospital's own oncology notes: extracting phenotypes (receptor type and "
               "status, tumour size, site, grade, histology, laterality, stage), drafting diagnoses and "
               "treatment plans, and staging fields from pathology reports, each for a clinician to check.")
DEFAULT_LIMITS = [
    "Not a medical device: outputs are drafts for a clinician to verify, never a basis for care on their own.",
    "Generated values can be absent from the note (hallucinations); `cancerllm extract` flags them as "
    "ungrounded - check those first.",
    "Scores hold for data like the evaluation data only; another hospital's notes, templates or language "
    "will change them. Re-evaluate before any use.",
    "The model may reproduce text seen in training: treat it as holding patient information unless the "
    "training data was de-identified.",
]


def model_hash(model_dir: str | os.PathLike) -> str:
    """'sha256:<hex>' over the (name, SHA-256) of the folder's weight, config and tokenizer files."""
    root = Path(model_dir)
    files = sorted({p for pat in HASHED for p in root.glob(pat) if p.is_file()})
    if not files:
        raise InputError(f"{root}: no weight or config files to hash (not a model folder)")
    outer = hashlib.sha256()
    for p in files:
        inner = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(f"{p.name} {inner.hexdigest()}\n".encode())
    return "sha256:" + outer.hexdigest()


def short_path(path: str | os.PathLike) -> str:
    """The last two parts of a path ('/tmp/x/train/base/model' -> 'base/model')."""
    parts = Path(str(path)).parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else str(path)


def scrub_paths(text: str) -> str:
    """Absolute paths in `text` cut to their last two parts."""
    return _ABS_PATH.sub(lambda m: short_path(m.group(0).rstrip("/")), text)


def base_model_name(base_dir: str | os.PathLike, base_name: str | None = None) -> str:
    if base_name:
        return base_name
    cfg = Path(base_dir) / "config.json"
    if cfg.is_file():
        name = json.loads(cfg.read_text(encoding="utf-8")).get("_name_or_path") or ""
        if name and not os.path.isabs(name) and not name.startswith((".", "~")) and name.count("/") == 1:
            return name
    return short_path(base_dir)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        return {}


def _targets(run: Path) -> list[Path]:
    if any((run / f).is_file() for f in ("config.json", "adapter_config.json", "heads_config.json")):
        return [run]
    found = [run / d for d in MODEL_SUBDIRS if (run / d).is_dir()]
    if not found:
        raise InputError(f"{run}: neither a model folder nor a run folder with {', '.join(MODEL_SUBDIRS)}/")
    return found


def _base_dir(model_dir: Path, run: Path) -> str | None:
    adapter = _read(model_dir / "adapter_config.json").get("base_model_name_or_path")
    heads = _read(model_dir / "heads_config.json").get("base_model")
    return adapter or heads or None


def _fmt_metric(value) -> str:
    if isinstance(value, dict):
        v = value.get("value", value.get("score", value.get("macro_f1")))
        lo, hi = value.get("ci_low"), value.get("ci_high")
        ci = f" (95 % CI {lo:.2f}-{hi:.2f})" if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else ""
        return (f"{v:.2f}" if isinstance(v, (int, float)) else str(v)) + ci
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def card_text(model_dir: Path, run: Path, base_model: str | None, base_name: str | None, data: str | None,
              deidentified: str | None, metrics: dict | None, intended_use: str | None,
              limitations: list[str] | None, title: str | None) -> str:
    base = base_model or _base_dir(model_dir, run)
    # a heads folder also holds its encoder's adapter_config.json: test for heads first
    kind = ("staging heads (LoRA encoder + classification heads)" if (model_dir / "heads_config.json").is_file()
            else "LoRA adapter (peft)" if (model_dir / "adapter_config.json").is_file()
            else "full model (transformers)")
    base_line, name = "none recorded", None
    if base and Path(base).is_dir():
        name = base_model_name(base, base_name)
        base_line = f"`{name}` ({model_hash(base)})"
    elif base:
        name = base_name or short_path(base)
        base_line = f"`{name}` (folder not found here, so no hash)"
    run_info, train = _read(run / "run.json"), _read(run / "train_metrics.json")
    arch = _read(model_dir / "config.json") or (_read(Path(base) / "config.json") if base and Path(base).is_dir() else {})
    front = {"library_name": "peft" if "LoRA adapter" in kind else "transformers",
             "base_model": name, "tags": ["cancerllm", "oncology", "clinical-notes"],
             "pipeline_tag": "text-generation" if "heads" not in kind else "text-classification"}
    lines = ["---", yaml.safe_dump({k: v for k, v in front.items() if v}, sort_keys=False).strip(), "---", "",
             f"# {title or 'cancerllm model: ' + short_path(model_dir)}", "",
             f"- **What it is**: {kind}, trained by cancerllm stage `{run_info.get('stage') or 'unknown'}`"
             f" (seed {run_info.get('seed', 'unknown')}, started {run_info.get('started', 'unknown')}).",
             f"- **Base model**: {base_line}.",
             f"- **This model's files**: {model_hash(model_dir)}."]
    if arch:
        lines.append(f"- **Architecture**: {arch.get('model_type', '?')}, {arch.get('num_hidden_layers', '?')} layers, "
                     f"hidden size {arch.get('hidden_size', '?')}, vocabulary {arch.get('vocab_size', '?')}.")
    if train.get("trainable_params") is not None:
        lines.append(f"- **Parameters**: {train.get('trainable_params'):,} trained of {train.get('total_params', 0):,}.")
    lines += ["", "## Training data", "", data or "Not recorded: the person who trained it must add what data it saw.",
              "", f"**De-identification**: {deidentified or 'UNKNOWN - settle this before the model leaves the hospital; a model trained on identifiable notes may reproduce them.'}",
              "", "## Intended use", "", intended_use or DEFAULT_USE, "", "## Limitations", "",
              *(f"- {x}" for x in (limitations or DEFAULT_LIMITS)), ""]
    rows = [(k, train[k]) for k in ("global_step", "epoch", "train_loss", "eval_loss", "tokens_per_s",
                                    "useful_tokens_per_s", "wall_time_s") if train.get(k) is not None]
    if rows or metrics:
        table = [*([f"training: {k}", _fmt_metric(v)] for k, v in rows),
                 *([k, _fmt_metric(v)] for k, v in (metrics or {}).items())]
        lines += ["## Metrics", "", *markdown_table_lines(["metric", "value"], table), ""]
    if (run / "config.yaml").is_file():
        lines += ["## Recipe (resolved config)", "", "```yaml",
                  scrub_paths((run / "config.yaml").read_text(encoding="utf-8")).strip(), "```", ""]
    versions = run_info.get("versions") or {}
    if versions:
        lines += ["## Software", "", ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    lines += ["Generated by `cancerllm.models.card.write_model_card` from the run's files.", ""]
    return scrub_paths("\n".join(lines))


def write_model_card(run_dir: str | os.PathLike, base_model: str | os.PathLike | None = None, *,
                     base_name: str | None = None, data: str | None = None, deidentified: str | None = None,
                     metrics: dict | None = None, intended_use: str | None = None,
                     limitations: list[str] | None = None, title: str | None = None) -> list[Path]:
    """Write README.md (the model card) into every model folder of `run_dir`; return their paths.

    `base_model`: the base folder (default: the adapter's or heads' recorded base);
    `base_name`: how to call it ("HuggingFaceTB/SmolLM2-135M-Instruct"); `data`: one
    paragraph on the training data; `deidentified`: its status in words ("synthetic: no
    real patients", "de-identified with `cancerllm data deid`, recall 0.97 on ..."); `metrics`:
    name -> value, or {"value", "ci_low", "ci_high"}.
    """
    from cancerllm.io import atomic_write_text
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(f"{run}: not a folder")
    out = []
    for target in _targets(run):
        # a model folder given directly: its run files (run.json, config.yaml) sit one level up
        meta = run if target != run or (run / "run.json").is_file() else run.parent
        text = card_text(target, meta, str(base_model) if base_model else None,
                         base_name, data, deidentified, metrics, intended_use, limitations, title)
        out.append(atomic_write_text(target / "README.md", text))
    return out
