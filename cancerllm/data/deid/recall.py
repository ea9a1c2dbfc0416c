"""Recall of planted identifiers: how many of the synthetic corpus's `phi` spans are removed.

A planted identifier is caught when every letter and digit of it lies inside a replaced
span (punctuation and spaces between its words may stay: "GARCIA, MARIA" replaced as
"[NAME], [NAME]" leaks nothing). Ages of 89 or less are not identifiers under HIPAA Safe
Harbor; they are planted too but counted apart (`ages_kept`), not as misses. The
precision-like figure is the share of replaced characters that fall in planted spans:
below 1 when the de-identifier also removes things the generator did not plant (the
generator marks every identifier it writes, so the rest is over-removal).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from cancerllm.data.deid.core import Deidentifier

SAFE_HARBOR_MAX_AGE = 89


def _is_safe_age(phi: dict) -> bool:
    return phi["type"] == "AGE" and phi["text"].isdigit() and int(phi["text"]) <= SAFE_HARBOR_MAX_AGE


def measure_recall(records: Iterable[dict], secret: str = "measure-recall", text_field: str = "text") -> dict:
    """Recall per type and overall of the `phi` spans of `records` (dicts with text and phi).

    Returns {"overall": {planted, caught, recall}, "by_type": {TYPE: {...}}, "ages_kept",
    "replaced_chars", "replaced_chars_in_phi", "precision_chars", "missed": [{id, type,
    start, end}]}; ids and offsets only, never the identifiers themselves.
    """
    deid = Deidentifier(secret)
    planted, caught = Counter(), Counter()
    ages_kept = replaced_chars = replaced_in_phi = n_records = 0
    missed = []
    for rec in records:
        text = rec[text_field]
        n_records += 1
        key = str(rec.get("patient_id") or rec.get("id"))
        spans = deid.deidentify(text, key).spans
        covered = bytearray(len(text))
        for s in spans:
            covered[s.start:s.end] = b"\x01" * (s.end - s.start)
        in_phi = bytearray(len(text))
        for phi in rec.get("phi") or []:
            a, b = phi["start"], phi["end"]
            in_phi[a:b] = b"\x01" * (b - a)
            if _is_safe_age(phi):
                ages_kept += 1
                continue
            planted[phi["type"]] += 1
            if all(covered[i] for i in range(a, b) if text[i].isalnum()):
                caught[phi["type"]] += 1
            else:
                missed.append({"id": rec.get("id"), "type": phi["type"], "start": a, "end": b})
        replaced_chars += sum(covered)
        replaced_in_phi += sum(c and p for c, p in zip(covered, in_phi))
    total, got = sum(planted.values()), sum(caught.values())
    return {
        "records": n_records,
        "overall": {"planted": total, "caught": got, "recall": got / total if total else 1.0},
        "by_type": {t: {"planted": n, "caught": caught[t], "recall": caught[t] / n} for t, n in sorted(planted.items())},
        "ages_kept": ages_kept,
        "replaced_chars": replaced_chars, "replaced_chars_in_phi": replaced_in_phi,
        "precision_chars": replaced_in_phi / replaced_chars if replaced_chars else 1.0,
        "missed": missed,
    }
