"""Fold a LoRA adapter into its base model and save a plain model directory.

A merged model is what the next stage needs when it trains a new adapter on top (the
instruction-tuning adapter goes on the domain-adapted model) and what runs fastest at
inference (no adapter matmuls). Adapters can also be used unmerged: see
`cancerllm.models.loading.load_causal_lm(adapter_dir=...)`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.offline import local_model_dir
from cancerllm.tasks.chat_template import ensure_chat_template


def adapter_base(adapter_dir: str | os.PathLike) -> str:
    """The base model folder recorded in an adapter's adapter_config.json."""
    cfg_path = Path(adapter_dir) / "adapter_config.json"
    if not cfg_path.is_file():
        raise InputError(f"{adapter_dir} is not a peft adapter folder (no adapter_config.json)")
    base = json.loads(cfg_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise InputError(f"{cfg_path} does not name its base model; pass --base")
    return base


def merge_adapter(adapter_dir: str | os.PathLike, out_dir: str | os.PathLike,
                  base_model_dir: str | os.PathLike | None = None, dtype: str = "auto") -> Path:
    """Load base + adapter on the CPU, `merge_and_unload`, save model and tokenizer to `out_dir`.

    The base defaults to the one the adapter was trained on. The tokenizer is taken from
    the adapter folder when it holds one (training saves it there), else from the base,
    and saved with the chat template of the toolkit's prompt (tasks/chat_template.py).
    Quantized (QLoRA) bases cannot be merged exactly; merge into the unquantized base.
    """
    from peft import PeftModel
    from transformers import AutoTokenizer

    from cancerllm.models.loading import load_base_model

    adapter = local_model_dir(adapter_dir, "adapter")
    base = local_model_dir(base_model_dir or adapter_base(adapter), "base model")
    model = load_base_model(base, "merge", dtype)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    has_tok = any((adapter / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(str(adapter if has_tok else base), local_files_only=True)
    ensure_chat_template(tokenizer)  # so vLLM / Ollama / LM Studio build the prompt the model was tuned on
    tokenizer.save_pretrained(str(out))
    return out
