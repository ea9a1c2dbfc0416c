"""The real-data report's inputs: the TCGA reports in the package's fixed patient split
and the continued-pre-training corpus (TCGA train reports + cancer abstracts)."""

from __future__ import annotations

import csv
import hashlib
import random
import re
from collections import Counter
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.experiments.real.config import DEFAULT_DATA_DIR, TCGA_FOLDER, CorpusSources
from cancerllm.experiments.real.gold import registry_gold
from cancerllm.io import atomic_write_jsonl, read_jsonl


def resolve_data_dir(data_dir: str | None) -> Path:
    path = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    if not (path / TCGA_FOLDER).is_dir():
        raise InputError(f"{path} has no {TCGA_FOLDER}/ folder: pass --data-dir (the folder holding "
                         f"{TCGA_FOLDER}, hallmarks_of_cancer, medical_abstracts_tc); default {DEFAULT_DATA_DIR}")
    return path


def prepare_tcga(data_dir: Path, out: Path, fields: list[str]) -> dict:
    """OUT/data/{train,dev,test}.jsonl (id, patient_id, cancer_type, text, labels = registry
    gold) and OUT/data/heads/train.jsonl (the heads' training input)."""
    from cancerllm.data.tcga import load_tcga_reports, split_records
    loaded = load_tcga_reports(data_dir / TCGA_FOLDER)
    splits = split_records(loaded.records)
    counts = {}
    for name, recs in splits.items():
        rows = [{"id": r["id"], "patient_id": r["patient_id"], "cancer_type": r["cancer_type"], "text": r["text"],
                 "labels": registry_gold(r, fields)} for r in recs]
        atomic_write_jsonl(out / f"{name}.jsonl", rows)
        counts[name] = len(rows)
    atomic_write_jsonl(out / "heads" / "train.jsonl", read_jsonl(out / "train.jsonl"))
    test = list(read_jsonl(out / "test.jsonl"))
    labelled = {f: dict(Counter(r["labels"][f] for r in test if r["labels"][f] is not None)) for f in fields}
    return {"counts": counts, "test_labels": labelled, "unmapped": dict(loaded.unmapped)}


def _detokenise(sentence_text: str) -> str:
    """HoC sentences are tokenised ("growth ( GHS-R ) ."); undo the spaces around punctuation."""
    text = re.sub(r"\s+([.,;:!?%)\]])", r"\1", sentence_text)
    return re.sub(r"([(\[])\s+", r"\1", text)


def corpus_documents(data_dir: Path, tcga_dir: Path, sources: CorpusSources):
    """(id, patient_id, text) of every corpus source; TCGA train reports only."""
    if sources.tcga_train:
        for r in read_jsonl(tcga_dir / "train.jsonl"):
            yield f"tcga:{r['id']}", r["patient_id"], r["text"]
    if sources.hallmarks_of_cancer:
        for r in read_jsonl(data_dir / "hallmarks_of_cancer" / "hoc.jsonl"):
            yield f"hoc:{r['pmid']}", "", _detokenise(" ".join(r["sentences"]))
    if sources.medical_abstracts != "none":
        csv.field_size_limit(2**31 - 1)
        with open(data_dir / "medical_abstracts_tc" / "medical_tc_test.csv", encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if sources.medical_abstracts == "all" or row["condition_label"].strip() == "1":
                    yield f"medtc:{i}", "", row["medical_abstract"]


def build_real_corpus(data_dir: Path, tcga_dir: Path, out: Path, sources: CorpusSources, seed: int) -> dict:
    """OUT/clean/train.jsonl (shuffled, de-duplicated corpus) and validation.jsonl (TCGA dev).

    The corpus module's cleaning and near-duplicate filter; not its patient partition:
    the TCGA split is fixed, and abstracts have no patients.
    """
    from cancerllm.data.corpus import NearDuplicateFilter, clean_text
    near = NearDuplicateFilter(sources.near_dup_threshold, 128, 5)
    seen: set[str] = set()
    kept, stats = [], Counter()
    for doc_id, patient, text in corpus_documents(data_dir, tcga_dir, sources):
        source = doc_id.split(":", 1)[0]
        text = clean_text(text)
        digest = hashlib.blake2b(" ".join(text.lower().split()).encode(), digest_size=16).hexdigest()
        if len(text) < 20 or digest in seen or near.seen(text):
            stats[f"{source}_dropped"] += 1
            continue
        seen.add(digest)
        stats[source] += 1
        stats[f"{source}_chars"] += len(text)
        kept.append({"id": doc_id, "patient_id": patient, "text": text})
    random.Random(seed).shuffle(kept)  # blocks are taken from the start: mix the sources
    atomic_write_jsonl(out / "clean" / "train.jsonl", kept)
    atomic_write_jsonl(out / "clean" / "validation.jsonl", (
        {"id": f"tcga:{r['id']}", "patient_id": r["patient_id"], "text": clean_text(r["text"])}
        for r in read_jsonl(tcga_dir / "dev.jsonl")))
    return dict(stats)
