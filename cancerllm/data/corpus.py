"""Pre-training corpus: clean, de-duplicate, split by patient, tokenize, pack into blocks.

Cleaning and de-duplication stream one document at a time (exact duplicates by a hash of
the normalised text, near duplicates by MinHash LSH from `datasketch`), so memory grows
with the number of distinct documents' signatures, not their text. Tokenizing and packing
use `datasets.map(batched=True, num_proc=...)` over Arrow files on disk.

Leakage rule: patients are assigned to train/validation/test with the same function the
task datasets use; documents of test patients are left out of the pre-training corpus
(their notes contain the diagnoses and plans the test asks for), validation patients'
documents form the language-model validation split.

Instruction-tuning notes are kept out too, as the paper keeps its pre-training notes
apart from its three task datasets: given the task folder (`tasks_dir`, the output of
`cancerllm data tasks`), every document that a task record was built from (its
`source_id`, in any split) is left out, unless `include_task_notes`. Without a task
folder nothing can be matched; corpus.json then says `task_notes: "not checked"`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cancerllm.config import Config
from cancerllm.data.partition import assign_split
from cancerllm.io import AtomicJsonlFiles, atomic_write_json, make_private

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w+")
MINHASH_MAX_WORDS = 100_000   # near-duplicate signature: a document's first words (see NearDuplicateFilter)
_MINHASH_BATCH = 10_000


class CorpusConfig(Config):
    text_field: str = "text"
    id_field: str = "id"
    patient_field: str = "patient_id"
    min_chars: int = 20
    near_dup_threshold: float = 0.85  # estimated Jaccard similarity of word 5-gram shingles
    num_perm: int = 128
    shingle: int = 5
    seed: int = 0                     # the patient partition seed shared with the tasks
    block_size: int = 512
    num_proc: int = 1
    tasks_dir: str | None = None      # task datasets folder: its source notes are left out of the corpus
    include_task_notes: bool = False  # keep them in anyway (differs from the paper)


def clean_text(text: str) -> str:
    """NFC, no control characters, one space between words, at most one blank line."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


@dataclass
class CleanStats:
    read: int = 0
    empty_or_short: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    held_out_test_patients: int = 0
    task_notes_excluded: int = 0
    kept: Counter = field(default_factory=Counter)


class NearDuplicateFilter:
    """MinHash LSH over word shingles: `seen(text)` is True if a similar text was added."""

    def __init__(self, threshold: float, num_perm: int, shingle: int):
        from datasketch import MinHashLSH
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.num_perm, self.shingle, self.n = num_perm, shingle, 0

    def seen(self, text: str) -> bool:
        from datasketch import MinHash
        # A huge note (tens of MB) must not cost memory in proportion to its length: the
        # signature covers its first MINHASH_MAX_WORDS words, fed to datasketch in slices
        # (its update_batch holds a shingles x num_perm array). Shorter notes are signed whole.
        words = [m.group() for m in itertools.islice(_WORD.finditer(text.lower()), MINHASH_MAX_WORDS)]
        k = min(self.shingle, max(1, len(words)))
        shingles = list({" ".join(words[i:i + k]).encode() for i in range(max(1, len(words) - k + 1))})
        mh = MinHash(num_perm=self.num_perm, seed=1)
        for i in range(0, len(shingles), _MINHASH_BATCH):
            mh.update_batch(shingles[i:i + _MINHASH_BATCH])
        if self.lsh.query(mh):
            return True
        self.lsh.insert(str(self.n), mh)
        self.n += 1
        return False


def task_note_ids(tasks_dir: str | os.PathLike) -> set[str]:
    """Ids of the documents the task datasets were built from (`source_id`, else the record
    id), over every task and split of TASKS (`cancerllm data tasks --output`)."""
    from cancerllm.errors import InputError
    from cancerllm.io import read_jsonl
    files = sorted(Path(tasks_dir).glob("*/*.jsonl"))
    if not Path(tasks_dir).is_dir() or not files:
        raise InputError(f"task folder {str(tasks_dir)!r} has no TASK/<split>.jsonl files (cancerllm data tasks --output)")
    return {str(r.get("source_id") or r["id"]) for f in files for r in read_jsonl(f)}


def clean_documents(docs: Iterable[tuple[str, str, str]], cfg: CorpusConfig,
                    stats: CleanStats, exclude: set[str] | frozenset = frozenset()) -> Iterator[tuple[str, dict]]:
    """(id, patient_id, text) -> (split, record) for documents that survive cleaning;
    documents whose id is in `exclude` (instruction-tuning notes) are left out."""
    exact: set[bytes] = set()
    near = NearDuplicateFilter(cfg.near_dup_threshold, cfg.num_perm, cfg.shingle)
    for doc_id, patient_id, text in docs:
        stats.read += 1
        text = clean_text(text)
        if len(text) < cfg.min_chars:
            stats.empty_or_short += 1
            continue
        split = assign_split(patient_id or doc_id, cfg.seed)
        if split == "test":
            stats.held_out_test_patients += 1
            continue
        if doc_id in exclude:
            stats.task_notes_excluded += 1
            continue
        digest = hashlib.blake2b(" ".join(text.lower().split()).encode(), digest_size=16).digest()
        if digest in exact:
            stats.exact_duplicates += 1
            continue
        exact.add(digest)
        if near.seen(text):
            stats.near_duplicates += 1
            continue
        stats.kept[split] += 1
        yield split, {"id": doc_id, "patient_id": patient_id, "text": text}


def read_inputs(inputs: list[str], cfg: CorpusConfig, report: list) -> Iterator[tuple[str, str, str]]:
    """Documents from user inputs via the generic readers; malformed records go to `report`."""
    from cancerllm.data.readers import iter_documents
    for path in inputs:
        result = iter_documents(path, text_field=cfg.text_field, id_field=cfg.id_field,
                                patient_field=cfg.patient_field)
        for doc in result:
            yield str(doc.id), str(doc.patient_id or ""), doc.text
        report.append(result.report)


def build_corpus(inputs: list[str], out_dir: str | os.PathLike, cfg: CorpusConfig | None = None,
                 tokenizer_dir: str | os.PathLike | None = None) -> dict:
    """Clean + de-duplicate `inputs` into OUT/clean/{train,validation}.jsonl; pack if a tokenizer is given."""
    cfg = cfg or CorpusConfig()
    out = Path(out_dir)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    stats, reports = CleanStats(), []
    exclude = task_note_ids(cfg.tasks_dir) if cfg.tasks_dir and not cfg.include_task_notes else set()
    # Private (0600) temp files, renamed when complete, deleted on any failure (io.AtomicJsonlFiles).
    with AtomicJsonlFiles({s: out / "clean" / f"{s}.jsonl" for s in ("train", "validation")}) as handles:
        for split, rec in clean_documents(read_inputs(inputs, cfg, reports), cfg, stats, exclude):
            handles[split].write(rec)
    summary = {
        "read": stats.read, "empty_or_short": stats.empty_or_short,
        "exact_duplicates": stats.exact_duplicates, "near_duplicates": stats.near_duplicates,
        "held_out_test_patients": stats.held_out_test_patients, "kept": dict(stats.kept),
        "task_notes": ("included" if cfg.include_task_notes else "not checked" if not cfg.tasks_dir else "excluded"),
        "task_notes_excluded": stats.task_notes_excluded,
        "skipped_records": [str(e) for r in reports for e in getattr(r, "skipped", [])][:1000],
        "n_skipped_records": sum(len(getattr(r, "skipped", [])) for r in reports),
        "config": cfg.model_dump(),
    }
    if tokenizer_dir is not None:
        summary["packed"] = pack_corpus(out / "clean", tokenizer_dir, out / "packed", cfg.block_size,
                                        cfg.num_proc)
    atomic_write_json(out / "corpus.json", summary)
    return summary


def pack_corpus(clean_dir: str | os.PathLike, tokenizer_dir: str | os.PathLike,
                out_dir: str | os.PathLike, block_size: int = 512, num_proc: int = 1) -> dict:
    """Tokenize cleaned JSONL and pack into `block_size` blocks (DatasetDict on disk).

    Each document ends with EOS, documents are concatenated and cut into full blocks (the
    tail shorter than a block is dropped and counted). Attention inside a block may cross
    an EOS boundary, as in standard causal-LM packing; no padding is ever trained on.
    The folder is saved under a temporary name and renamed when complete.
    """
    from datasets import load_dataset

    tok = _packing_tokenizer(tokenizer_dir)
    eos = tok.eos_token_id
    files = {s: str(Path(clean_dir) / f"{s}.jsonl") for s in ("train", "validation")
             if (Path(clean_dir) / f"{s}.jsonl").exists() and (Path(clean_dir) / f"{s}.jsonl").stat().st_size}
    # The datasets cache holds full copies of the notes: it lives in a temporary folder that
    # is deleted on return, never beside the output (a run folder must not hide note copies).
    with tempfile.TemporaryDirectory(prefix="cancerllm-datasets-") as cache:
        return _tokenize_and_pack(load_dataset("json", data_files=files, cache_dir=cache), tok, eos,
                                  Path(out_dir), block_size, num_proc)


def _packing_tokenizer(tokenizer_dir: str | os.PathLike):
    """The tokenizer of a local folder (refused if it is a hub name), as packing needs it.

    Packing reads only token ids and EOS, so the padding settings that
    `cancerllm.models.loading.load_tokenizer` adds for training play no part here; loading
    it directly keeps the data package free of imports from the model package.
    """
    from transformers import AutoTokenizer

    from cancerllm.offline import local_model_dir
    return AutoTokenizer.from_pretrained(str(local_model_dir(tokenizer_dir)), local_files_only=True)


def _tokenize_and_pack(raw, tok, eos: int, out_dir: Path, block_size: int, num_proc: int) -> dict:
    from datasets import DatasetDict

    def tokenize(batch):
        # Special-token strings written in a note ("</s>", "<|im_end|>") stay text.
        ids = tok(batch["text"], add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return {"input_ids": [x + [eos] for x in ids]}

    def group(batch):
        flat = [t for ids in batch["input_ids"] for t in ids]
        n = (len(flat) // block_size) * block_size
        return {"input_ids": [flat[i:i + block_size] for i in range(0, n, block_size)]}

    cols = raw["train"].column_names
    tokenized = raw.map(tokenize, batched=True, remove_columns=cols, num_proc=num_proc or None,
                        desc="tokenize")
    n_tokens = {s: sum(len(x) for x in tokenized[s]["input_ids"]) for s in tokenized}
    packed = tokenized.map(group, batched=True, batch_size=1000, num_proc=num_proc or None, desc="pack")
    _save_atomically(DatasetDict(packed), out_dir)
    return {"block_size": block_size, "tokens": n_tokens,
            "blocks": {s: len(packed[s]) for s in packed},
            "dropped_tail_tokens": {s: n_tokens[s] - len(packed[s]) * block_size for s in packed}}


def _save_atomically(data, out_dir: Path) -> None:
    """save_to_disk into a temporary sibling folder, then swap it in: a kill mid-save never
    leaves a partial dataset under `out_dir` (at worst, briefly, no folder there)."""
    import shutil
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        data.save_to_disk(str(tmp))
        make_private(tmp)  # token ids decode back to note text
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
