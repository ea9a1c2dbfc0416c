"""One patient -> split assignment shared by every task and stage.

A hash of (seed, patient id) decides the split, so the assignment is stable without
holding all patients in memory, identical across tasks (no patient's notes train one task
and test another), and unchanged when more patients are added.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "validation", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def assign_split(patient_id: str, seed: int = 0, ratios: tuple[float, float, float] = DEFAULT_RATIOS) -> str:
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < ratios[0]:
        return "train"
    if u < ratios[0] + ratios[1]:
        return "validation"
    return "test"
