"""Sentence splitting with character offsets, for annotated documents (phenotype task).

The phenotype task is asked per sentence (paper 2.2.1), but a hospital's annotations
come per note. Sentences are found by spaCy's rule-based `sentencizer` (a maintained
splitter that needs no model download: `spacy.blank("en")`; its English tokenizer
keeps abbreviations such as "Dr." whole), run line by line, because notes and
pathology reports put one finding per line without a full stop ("ER: positive").
Offsets are characters of the original text; spans are trimmed of surrounding spaces.

An entity never straddles two sentences: when the splitter cuts inside an annotated
span, the sentences on both sides are joined, so no annotation is cut or lost.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _nlp():
    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence of `text`, in order, trimmed, none blank."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            for sent in _nlp()(line).sents:
                a = pos + sent.start_char
                b = pos + sent.end_char
                seg = text[a:b]
                lead = len(seg) - len(seg.lstrip())
                a, b = a + lead, a + lead + len(seg.strip())
                if a < b:
                    spans.append((a, b))
        pos += len(line)
    return spans


def join_across_entities(spans: list[tuple[int, int]], entities) -> list[tuple[int, int]]:
    """`spans` with neighbours joined wherever an entity (start, end) crosses their boundary."""
    out: list[list[int]] = []
    for a, b in spans:
        if out and any(e.start < out[-1][1] and e.end > a for e in entities if e.start >= out[-1][0]):
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def annotated_sentences(doc, patient_id: str, label_of) -> list[dict]:
    """Phenotype sentence records of one `AnnotatedText`, entity offsets relative to the sentence.

    `label_of(label)` gives the entity type or None (the entity is dropped). The record
    layout is that of a corpus folder's phenotypes.jsonl (docs/design.md).
    """
    ents = [e for e in doc.entities if label_of(e.label) is not None]
    spans = join_across_entities(split_sentences(doc.text), doc.entities)
    out = []
    for k, (a, b) in enumerate(spans):
        inside = [{"start": e.start - a, "end": e.end - a, "label": label_of(e.label), "text": e.text}
                  for e in ents if a <= e.start and e.end <= b]
        out.append({"id": f"{doc.id}-S{k}", "patient_id": patient_id, "source_id": doc.id, "source_start": a,
                    "text": doc.text[a:b], "entities": inside})
    return out
