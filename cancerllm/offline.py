"""Offline by design: hospital data never meets the network.

Importing the package sets the Hugging Face offline switches before any HF library is
imported, and every model argument goes through `local_model_dir`, which refuses a hub
name with a clear message instead of letting a library try to download it.

The switches are forced, not defaulted: a user's shell with `HF_HUB_OFFLINE=0` (common on
a machine that also downloads models) would otherwise let `datasets.load_dataset("json")`
report a download count to the hub while building task datasets.
`HF_UPDATE_DOWNLOAD_COUNTS=0` switches that report off as well. The libraries read these
variables when they are first imported, so import cancerllm before them in your own code.
"""

from __future__ import annotations

import os
from pathlib import Path

from cancerllm.errors import OfflineError

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def enforce_offline() -> None:
    """Set every variable of `OFFLINE_ENV`, overriding the user's value (module doc)."""
    os.environ.update(OFFLINE_ENV)


def local_model_dir(path: str | os.PathLike, what: str = "model") -> Path:
    """Return `path` as an existing local directory, or refuse it.

    A string like "mistralai/Mistral-7B-v0.1" that is not a local folder is a hub name:
    the toolkit will not download it. Download it yourself on a machine allowed to, and
    pass the folder. A folder without the files that `what` needs (MODEL_FILES) is refused
    in one line, before a library fails deep inside with an unrelated message (a folder
    with no tokenizer made transformers blame sentencepiece in a 148-line traceback).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        _check_model_files(p, what)
        return p.resolve()
    if p.exists():
        raise OfflineError(f"{what} {str(path)!r} is a file; expected a Hugging Face model directory")
    hint = ""
    if "/" in str(path) and not str(path).startswith((".", "/", "~")):
        hint = (" It looks like a hub name: cancerllm never downloads models (offline by design)."
                " Download it on a machine allowed to and pass the local folder.")
    raise OfflineError(f"{what} directory {str(path)!r} does not exist.{hint}")


# The files that make a folder what a caller asked for (any one of them is enough). A plain
# "model" also accepts a tokenizer-only folder: the tokenizer loader asks for a "model".
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "model": ("config.json", "adapter_config.json", "heads_config.json", *_TOKENIZER_FILES),
    "base model": ("config.json",),
    "adapter": ("adapter_config.json",),
    # a staging model: LoRA heads, cached-feature heads, or a classical system (cancerllm.serve.staging)
    "heads model": ("heads_config.json", "cached_heads.json", "classical.json"),
    "tokenizer": _TOKENIZER_FILES,
}


def _check_model_files(p: Path, what: str) -> None:
    from cancerllm.errors import InputError
    needed = MODEL_FILES.get(what)
    if needed and not any((p / name).is_file() for name in needed):
        raise InputError(f"{what} directory {str(p)!r} is not a Hugging Face {what} folder: it has none of "
                         f"{', '.join(needed)}")
