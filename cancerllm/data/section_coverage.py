"""`cancerllm data sections`: which note headers were recognised, and what the tasks will get.

Run it on a hospital's notes before training: it shows how often each section key was
found and under which spellings, how many notes lack each section the diagnosis and
treatment tasks need, how many records each task would get, and the line-start
"Words:" headers that were *not* recognised (seen in at least `min_unknown` notes, so
a one-off line such as a name does not show up), to be added with `--sections`.
"""

from __future__ import annotations

import os
import re
from collections import Counter

from cancerllm.data.section_names import DIAGNOSIS_INPUT, SECTIONS, TREATMENT_INPUT
from cancerllm.io import markdown_table_lines

_CANDIDATE = re.compile(r"^[ \t]*(?:\d{1,3}[.)][ \t]*)?(?:\*\*|__)?([A-Za-z][A-Za-z /&()-]{1,40}?)(?:\*\*|__)?[ \t]*:",
                        re.MULTILINE)
_DECOR = re.compile(r"^[\s\d.()#*_]+|[\s:*_]+$")


def _spelling(header: str) -> str:
    return " ".join(_DECOR.sub("", header).split())


def section_coverage(notes: str | os.PathLike, header_map: str | os.PathLike | None = None,
                     text_field: str = "text", id_field: str = "id", patient_field: str = "patient_id",
                     min_unknown: int = 3, max_unknown: int = 30) -> dict:
    """The coverage report as a dict (see the module docstring); skipped records are counted."""
    from cancerllm.data.readers import iter_documents
    from cancerllm.data.sections import find_sections, load_header_map
    extra = load_header_map(header_map) if header_map else None
    stream = iter_documents(notes, text_field, id_field, patient_field)
    seen: dict[str, Counter] = {}
    present: Counter = Counter()
    unknown: Counter = Counter()
    n = dx = tx = 0
    for doc in stream:
        n += 1
        bodies: dict[str, str] = {}
        known_starts = set()
        for s in find_sections(doc.text, extra):
            bodies[s.key] = bodies.get(s.key, "") + doc.text[s.body_start:s.body_end]
            if s.key != "preamble":
                seen.setdefault(s.key, Counter())[_spelling(doc.text[s.header_start:s.body_start])] += 1
                known_starts.add(s.header_start)
        keys = {k for k, v in bodies.items() if v.strip()}
        present.update(keys)
        dx += "diagnosis" in keys and any(k in keys for k in DIAGNOSIS_INPUT)
        tx += "plan" in keys and any(k in keys for k in TREATMENT_INPUT)
        note_unknown = {_spelling(m.group(1)) for m in _CANDIDATE.finditer(doc.text)
                        if m.start() not in known_starts}
        unknown.update(h for h in note_unknown if h)
    needed = list(dict.fromkeys(TREATMENT_INPUT + ["plan"]))
    extra_keys = sorted(set(seen) - set(SECTIONS))
    return {"notes": str(notes), "n_notes": n, "n_skipped": stream.report.n_skipped,
            "skipped": [str(e) for e in stream.report.skipped[:20]],
            "headers_seen": {k: dict(seen[k].most_common()) for k in SECTIONS + extra_keys if k in seen},
            "notes_without": {k: n - present[k] for k in needed},
            "records": {"diagnosis": dx, "treatment": tx},
            "unrecognised_headers": dict([(h, c) for h, c in unknown.most_common() if c >= min_unknown][:max_unknown])}


def format_coverage(report: dict) -> str:
    """The report as a few Markdown tables for the terminal."""
    n = report["n_notes"]
    lines = [f"{n} notes read from {report['notes']}, {report['n_skipped']} skipped; records: "
             f"diagnosis {report['records']['diagnosis']}, treatment {report['records']['treatment']}", ""]
    rows = []
    for key in list(report["notes_without"]) + [k for k in report["headers_seen"] if k not in report["notes_without"]]:
        spellings = ", ".join(f"{h} ({c})" for h, c in list(report["headers_seen"].get(key, {}).items())[:6])
        missing = report["notes_without"].get(key)
        rows.append([key, "-" if missing is None else f"{missing} of {n}", spellings or "-"])
    lines += markdown_table_lines(["section", "notes without it", "spellings seen (count)"], rows, "lrl")
    if report["unrecognised_headers"]:
        lines += ["", "Line-start headers not recognised (add them with --sections my_headers.yaml):",
                  ", ".join(f"{h} ({c})" for h, c in report["unrecognised_headers"].items())]
    return "\n".join(lines) + "\n"
