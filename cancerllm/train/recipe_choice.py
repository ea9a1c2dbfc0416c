"""Pick or check a training recipe by model size, so toy settings are never a silent default.

The tiny recipes (`*-tiny`: 800 records per task, a few hundred steps) exist to run the
pipeline on a laptop-sized model. On a real base model they would train a toy and
report it as a result. So:
- no recipe given: models over `TINY_LIMIT` (500 M) parameters get the paper's recipe
  (`pretrain-mistral7b`, `finetune-mistral7b`), smaller ones the tiny one; the choice
  is printed;
- a tiny recipe on a model over `TINY_LIMIT` is refused with a message naming the
  paper recipe (`--allow-tiny-recipe` runs it anyway, e.g. for a smoke test).
Parameters are counted from the checkpoint's safetensors headers (shapes only, no
weights are loaded); without safetensors files, from the config on the meta device
(accelerate's init_empty_weights).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from cancerllm.errors import ConfigError

TINY_LIMIT = 500_000_000
PAPER_RECIPES = {"pretrain": "pretrain-mistral7b", "finetune": "finetune-mistral7b"}
TINY_RECIPES = {"pretrain": "pretrain-tiny", "finetune": "finetune-tiny"}


def count_parameters(model_dir: str | os.PathLike) -> int:
    """Number of parameters of the model in `model_dir`, without loading its weights."""
    from cancerllm.offline import local_model_dir
    d = Path(local_model_dir(model_dir))
    files = sorted(d.glob("*.safetensors"))
    if files:
        from safetensors import safe_open
        total = 0
        for f in files:
            with safe_open(str(f), framework="pt") as fh:
                for name in fh.keys():
                    total += math.prod(fh.get_slice(name).get_shape())
        return total
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(d)))
    return sum(p.numel() for p in model.parameters())


def is_tiny_recipe(recipe: str | os.PathLike) -> bool:
    """A recipe whose file is named `*tiny*` (the shipped toy recipes; name a copy so too)."""
    from cancerllm.config import resolve_recipe
    return "tiny" in Path(resolve_recipe(recipe)).stem


def choose_recipe(stage: str, model_dir: str | os.PathLike, recipe: str | None,
                  allow_tiny: bool = False) -> tuple[str, str]:
    """(recipe, why) for `stage` ("pretrain" or "finetune"); see the module docstring."""
    n = count_parameters(model_dir)
    size = f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.0f} M"
    if recipe is None:
        chosen = PAPER_RECIPES[stage] if n > TINY_LIMIT else TINY_RECIPES[stage]
        return chosen, f"no --recipe given: the model has {size} parameters, so {chosen}"
    if n > TINY_LIMIT and not allow_tiny and is_tiny_recipe(recipe):
        raise ConfigError(f"recipe {str(recipe)!r} is the toy setting for models under {TINY_LIMIT // 10**6} M "
                          f"parameters, and {model_dir} has {size}: use --recipe {PAPER_RECIPES[stage]} "
                          f"(the paper's settings), or --allow-tiny-recipe for a smoke test")
    return str(recipe), f"--recipe {recipe} ({size} parameters)"
