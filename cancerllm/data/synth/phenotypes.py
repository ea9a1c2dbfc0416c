"""Sentence-level phenotype annotations drawn from the generated notes and reports.

Sentences and their entity offsets were recorded while the documents were built
(`text.Doc`), so the gold spans are exact by construction. A share of sentences with no
entity at all is kept (about 30 %), as the paper's "Not relevant" answers need them.
"""

from __future__ import annotations

import random

from cancerllm.data.synth.text import Doc

ENTITY_TYPES = ["hormone_receptor_type", "hormone_receptor_status", "tumor_size", "tumor_site", "cancer_grade",
                "histological_type", "tumor_laterality", "cancer_stage"]
KEEP_WITH_ENTITIES = 0.6
EMPTY_SHARE = 0.3


def _candidates(docs: list[tuple[str, Doc]]):
    for d, (source_id, doc) in enumerate(docs):
        for j, (start, text, ents) in enumerate(doc.sentences):
            if len(text) >= 12 and sum(ch.isalpha() for ch in text) >= 6:
                yield (d, j), source_id, start, text, ents


def select_sentences(docs: list[tuple[str, Doc]], patient_id: str, rng: random.Random) -> list[dict]:
    """Phenotype records for one patient's documents, in document order."""
    with_ents, empty = [], []
    for cand in _candidates(docs):
        (with_ents if cand[4] else empty).append(cand)
    chosen = [c for c in with_ents if rng.random() < KEEP_WITH_ENTITIES]
    n_empty = round(len(chosen) * EMPTY_SHARE / (1 - EMPTY_SHARE))
    chosen += rng.sample(empty, min(n_empty, len(empty)))
    chosen.sort(key=lambda c: c[0])
    return [{"id": f"{source_id}-S{j}", "patient_id": patient_id, "source_id": source_id, "source_start": start,
             "text": text, "entities": ents} for (_, j), source_id, start, text, ents in chosen]
