"""Load any local base model directory (plus an optional LoRA adapter) the same way.

The tiny default and Mistral-7B / Llama-3-8B go through exactly this code: nothing here
knows which model it is. Adapters are applied unmerged (peft), so an adapter can be
evaluated without writing a merged copy.

`load_base_model` is the one `from_pretrained` of a base model in the toolkit: inference
(`load_causal_lm`, the staging heads' encoder), training (`train.causal_lm.load_for_training`,
the cached heads' encoder) and merging (`train.merge`) all call it, with the one dtype
policy `resolve_dtype` (what differs between those purposes is named there).
"""

from __future__ import annotations

import os
from pathlib import Path

from cancerllm.errors import ConfigError
from cancerllm.offline import local_model_dir


def pick_device(device: str | None = None) -> str:
    import torch
    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(device: str, dtype: str | None = None):
    """The weight dtype policy for inference (and for training with `model_dtype: fast`).

    An explicit dtype wins. Otherwise: bf16 on a GPU that supports it (else fp16); on a CPU,
    bf16 where the CPU computes it natively (AVX512-BF16 / AMX: about 2x faster than fp32
    for SmolLM2-135M, see benchmarks/bench_cpu_defaults.py), fp32 elsewhere.
    `CANCERLLM_CPU_DTYPE=float32` pins the CPU choice (the test suite does, for exact
    batch-invariance checks).
    """
    import torch

    from cancerllm.runtime import cpu_has_fast_bf16
    if dtype and dtype not in ("auto", "fast"):
        return getattr(torch, dtype)
    if str(device).startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    pinned = os.environ.get("CANCERLLM_CPU_DTYPE")
    if pinned:
        return getattr(torch, pinned)
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


DTYPE_PURPOSES = ("inference", "training", "merge")


def resolve_dtype(dtype: str | None, device: str | None = None, purpose: str = "inference"):
    """The weight dtype a base model is loaded in: the one policy, per purpose.

    - a dtype name ("float32", "bfloat16", "float16") is that dtype, whatever the purpose;
    - "fast" is the hardware's fast dtype (`pick_dtype` on `device`), whatever the purpose;
    - "auto" (or None) is where the purposes differ, on purpose:
      `inference`: the fast dtype too (`pick_dtype`), since answers are all that is kept;
      `training` and `merge`: the dtype the checkpoint was saved in (transformers' "auto"),
      so a run or a merged copy keeps the base's own precision unless told otherwise.
    Defaults of the callers: inference "auto", training recipes `model_dtype: float32`,
    `train merge --dtype auto`, cached heads `dtype: bfloat16`.
    """
    if purpose not in DTYPE_PURPOSES:
        raise ValueError(f"dtype purpose must be one of {DTYPE_PURPOSES}, got {purpose!r}")
    if dtype in (None, "auto") and purpose != "inference":
        return "auto"
    return pick_dtype(pick_device(device), dtype)


def load_base_model(model_dir: str | os.PathLike, purpose: str = "inference", dtype: str | None = None,
                    device: str | None = None, encoder: bool = False, **kwargs):
    """A base model's weights from a local folder (`AutoModelForCausalLM`, or `AutoModel`
    without its LM head when `encoder`), in the dtype `resolve_dtype(dtype, device, purpose)`.

    `device` only decides the dtype here; moving the model is the caller's (a quantized one
    cannot be moved). `kwargs` go to `from_pretrained` (quantization_config, device_map).
    """
    from transformers import AutoModel, AutoModelForCausalLM
    auto = AutoModel if encoder else AutoModelForCausalLM
    model = auto.from_pretrained(str(local_model_dir(model_dir)), dtype=resolve_dtype(dtype, device, purpose),
                                 local_files_only=True, **kwargs)
    contiguous_lm_head_input(model)
    return model


def _contiguous_first_input(module, args):
    return (args[0].contiguous(), *args[1:]) if args and hasattr(args[0], "contiguous") else args


def contiguous_lm_head_input(model) -> None:
    """Make the LM head read a contiguous input (a forward pre-hook; weights untouched).

    transformers slices the hidden states before the LM head (`logits_to_keep`: the last
    position while generating), which leaves a non-contiguous 3-D view. `torch.matmul`
    cannot fold such a view into one matrix product, so it broadcasts the head's weight to
    the batch and copies it: for a 49k-token vocabulary, hundreds of MB per call. Measured
    on this 2-core CPU (bf16, SmolLM2's head): 1,680 ms for the prompts of a batch of 16
    against 4 ms with the view made contiguous first; 580 vs 40 ms for the answer positions
    of a training batch of 4. A hook, so every model and every path (training, generation,
    serving) gets it, and nothing about the model or its saved files changes.
    """
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if head is not None and not getattr(head, "_cancerllm_contiguous", False):
        head.register_forward_pre_hook(_contiguous_first_input)
        head._cancerllm_contiguous = True


def load_frozen_encoder(base_model: str | os.PathLike, dtype: str | None = "auto", device: str | None = None):
    """(frozen `AutoModel` on device, tokenizer, resolved dir): the encoder of the staging heads.

    Inference dtype policy (`resolve_dtype`); no model-specific branches.
    """
    base_dir = local_model_dir(base_model)
    device = pick_device(device)
    model = load_base_model(base_dir, "inference", dtype, device, encoder=True)
    model.requires_grad_(False)
    model.to(device)
    return model, load_tokenizer(base_dir), base_dir


def load_tokenizer(model_dir: str | os.PathLike, padding_side: str = "right"):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(local_model_dir(model_dir)), local_files_only=True)
    if tok.pad_token is None:
        # Decoder-only models often ship without a pad token; EOS is the usual stand-in.
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


QUANTIZATIONS = ("4bit", "8bit")


def quantization_kwargs(quantization: str | None, device: str | None = None) -> dict:
    """The `from_pretrained` arguments that load a model in 4 or 8 bits (bitsandbytes), or {}.

    Why: the paper's 13B-70B and Mixtral baselines do not fit on one 80 GB GPU in bf16; in
    4 bits a 70B needs ~40 GB. `device_map="auto"` lets accelerate place the layers on the
    GPU(s) (and spill to CPU RAM when they do not fit), so a model larger than one GPU still
    loads. 4bit is NF4 with double quantization and bf16 compute (QLoRA's settings, the same
    as training's `quantization: 4bit`); 8bit is LLM.int8(). bitsandbytes needs CUDA, so on a
    machine without it (or without the package) this is a one-line ConfigError, raised
    before any weights are read.
    """
    if quantization in (None, "", "none"):
        return {}
    if quantization not in QUANTIZATIONS:
        raise ConfigError(f"--quantization must be one of {', '.join(QUANTIZATIONS)} (or omitted), "
                          f"got {quantization!r}")
    import importlib.util

    import torch
    if device and not str(device).startswith(("cuda", "auto")):
        raise ConfigError(f"--quantization {quantization} needs a CUDA GPU (bitsandbytes), not device "
                          f"{device!r}; drop --quantization to load the model unquantized there.")
    if not torch.cuda.is_available():
        raise ConfigError(f"--quantization {quantization} needs a CUDA GPU (bitsandbytes); this machine "
                          "has none. Drop --quantization to load the model unquantized on CPU.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"--quantization {quantization} needs the bitsandbytes package: "
                          "pip install bitsandbytes")
    from transformers import BitsAndBytesConfig
    if quantization == "4bit":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                    bnb_4bit_use_double_quant=True,
                                    bnb_4bit_compute_dtype=pick_dtype("cuda"))
    else:
        config = BitsAndBytesConfig(load_in_8bit=True)
    return {"quantization_config": config, "device_map": "auto"}


def load_causal_lm(model_dir: str | os.PathLike, adapter_dir: str | os.PathLike | None = None,
                   device: str | None = None, dtype: str | None = None,
                   padding_side: str = "left", trainable: bool = False,
                   quantization: str | None = None):
    """Return (model, tokenizer) in eval mode on `device`; left padding for generation.

    `quantization` ("4bit" | "8bit" | None): see `quantization_kwargs`; the quantized model
    is placed by `device_map="auto"` and never moved afterwards (bitsandbytes weights cannot be).
    """
    model_dir = local_model_dir(model_dir)
    quant = quantization_kwargs(quantization, device)
    device = pick_device(device)
    tok = load_tokenizer(model_dir, padding_side=padding_side)
    model = load_base_model(model_dir, "inference", dtype, device, **quant)
    if adapter_dir is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(local_model_dir(adapter_dir, "adapter")),
                                          is_trainable=trainable)
    if not quant:
        model.to(device)
    if not trainable:
        model.eval()
    return model, tok


def is_adapter_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "adapter_config.json").is_file()
