"""Canonical clinic-note sections and the header spellings seen for each.

The spellings live in `section_headers.yaml` beside this file, so a hospital's own
headers are added without editing code (`--sections my_headers.yaml`, same layout,
read by `sections.load_header_map`). Shared by the synthetic generator (which writes
the `headers` spellings) and the section parser (which also knows the `combined`
ones, such as "Assessment and Plan", by the rule stated in the YAML).
"""

from __future__ import annotations

from pathlib import Path

import yaml

SECTIONS: list[str] = [
    "reason_for_visit", "treatment_site", "subjective", "nursing_ros", "objective",
    "laboratory_results", "diagnosis", "assessment", "plan",
]

# The six sections that form the diagnosis task's input (paper 2.2.2), in order.
DIAGNOSIS_INPUT = SECTIONS[:6]
# Treatment plan input adds diagnosis and assessment (paper 2.2.3).
TREATMENT_INPUT = SECTIONS[:8]

HEADERS_FILE = Path(__file__).with_name("section_headers.yaml")
_DEFAULTS = yaml.safe_load(HEADERS_FILE.read_text(encoding="utf-8"))

HEADER_VARIANTS: dict[str, list[str]] = {k: list(v) for k, v in _DEFAULTS["headers"].items()}
# Headers naming two sections; the key is the section that receives the whole body.
COMBINED_HEADERS: dict[str, list[str]] = {k: list(v) for k, v in _DEFAULTS["combined"].items()}
