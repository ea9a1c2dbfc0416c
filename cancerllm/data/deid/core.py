"""De-identify one text: find identifiers, merge overlaps, replace them.

Replacements: typed tags ([NAME], [MRN], [ID], [PHONE], [EMAIL], [URL], [ADDRESS]),
dates shifted by a per-patient number of days in their own format, ages over 89 as
"90+". The shift comes from an HMAC of the patient key under a secret, so every note of
a patient moves by the same offset (intervals between visits survive) and nobody without
the secret can undo it from the output alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from dataclasses import dataclass

from cancerllm.data.deid.dates import find_dates, shift
from cancerllm.data.deid.names import find_names
from cancerllm.data.deid.patterns import find_shaped
from cancerllm.data.deid.spans import Span, merge


@dataclass
class DeidText:
    """A de-identified text, the replaced spans (offsets into the original) and counts by type."""
    text: str
    spans: list[Span]
    counts: Counter


class Deidentifier:
    """Replaces identifiers; `secret` keys the date shift (random per instance if None).

    Keep the secret apart from the output: with it and a patient id the shift can be
    recomputed. Use the same secret for every batch of one data set so a patient's notes
    shift alike across runs.
    """

    def __init__(self, secret: str | None = None, max_shift_days: int = 365):
        if max_shift_days < 1:
            raise ValueError("max_shift_days must be at least 1")
        self._key = (secret if secret is not None else secrets.token_hex(32)).encode("utf-8")
        self.max_shift_days = max_shift_days

    def shift_days(self, patient_key: str) -> int:
        """A non-zero offset in [-max, max] days, the same for the same patient key and secret."""
        digest = hmac.new(self._key, str(patient_key).encode("utf-8"), hashlib.sha256).digest()
        n = int.from_bytes(digest[:8], "big") % (2 * self.max_shift_days)
        return n - self.max_shift_days if n < self.max_shift_days else n - self.max_shift_days + 1

    def find(self, text: str, names: tuple[str, ...] = ()) -> list[Span]:
        """Merged identifier spans of `text`; `names` are known names of the record (found anywhere)."""
        return merge(find_shaped(text) + find_dates(text) + find_names(text, names))

    def deidentify(self, text: str, patient_key: str, names: tuple[str, ...] = ()) -> DeidText:
        spans = self.find(text, names)
        days = self.shift_days(patient_key) if any(s.type == "DATE" for s in spans) else 0
        parts, pos, counts = [], 0, Counter()
        for s in spans:
            parts.append(text[pos:s.start])
            original = text[s.start:s.end]
            if s.type == "DATE" and s.value is not None:
                parts.append(shift(original, s.value, days))
            elif s.type == "AGE":
                parts.append("90+")
            else:
                parts.append(f"[{s.type}]")
            counts[s.type] += 1
            pos = s.end
        parts.append(text[pos:])
        return DeidText("".join(parts), spans, counts)
