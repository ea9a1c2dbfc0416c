"""Clinic-note section parser: header variants, numbering, same-line bodies, offsets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cancerllm.data.section_names import DIAGNOSIS_INPUT, HEADER_VARIANTS, SECTIONS
from cancerllm.data.sections import find_sections, parse_sections, render_sections

ALL_VARIANTS = [(key, v) for key, variants in HEADER_VARIANTS.items() for v in variants]


STYLES = ["{v}:\nbody text", "{v}: body text", "{V}:  body text", "{l}\nbody text", "1) {v}: body text",
          "2. {v}:\nbody text", "# {v}\nbody text", "**{v}:** body text", "**{v}**: body text", "  {v} :\tbody text"]


@pytest.mark.parametrize("key,variant,style", [
    (k, v, s) for k, v in ALL_VARIANTS for s in STYLES if len(v) > 1 or ":" in s])  # letters need a colon
def test_every_variant_in_every_style(key, variant, style):
    header = style.format(v=variant, V=variant.upper(), l=variant.lower())
    assert parse_sections("Preface.\n" + header) == {"preamble": "Preface.", key: "body text"}


def test_note_built_from_all_variants_recovers_each_section():
    for i in range(max(len(v) for v in HEADER_VARIANTS.values())):
        parts, expected = [], {}
        for key in SECTIONS:
            variants = HEADER_VARIANTS[key]
            variant = variants[i % len(variants)]
            body = f"Body of {key} line one.\nLine two {i}."
            parts.append(f"{variant}:\n{body}" if i % 2 else f"{variant.upper()}: {body}")
            expected[key] = body
        assert parse_sections("\n\n".join(parts)) == expected


def test_not_headers_stay_in_the_current_section():
    note = ("Plan: start letrozole\nPlan of treatment was discussed.\nSocial History: lives alone\n"
            "P: 88 bpm\nA patient of Dr X.\nDiagnosis is pending.\nThe plan:\n")
    assert parse_sections(note) == {"plan": note.removeprefix("Plan: ").strip()}


def test_repeated_sections_are_joined_and_preamble_kept():
    note = "Seen in clinic.\nAssessment: stable\nPlan: CT\nImpression: improving\nPlan: labs"
    assert parse_sections(note) == {"preamble": "Seen in clinic.", "assessment": "stable\nimproving",
                                    "plan": "CT\nlabs"}


def test_extra_variants_add_hospital_spellings():
    note = "Onc Hx: ER+ IDC\nNext Steps: tamoxifen"
    assert parse_sections(note) == {"preamble": note}
    assert parse_sections(note, {"diagnosis": ["Onc Hx"], "plan": ["Next Steps"]}) == {
        "diagnosis": "ER+ IDC", "plan": "tamoxifen"}


def test_find_sections_offsets():
    note = "Hi\n1) Reason for visit: follow up\n\nPLAN\n  continue  \n"
    secs = find_sections(note)
    assert [s.key for s in secs] == ["preamble", "reason_for_visit", "plan"]
    assert note[secs[1].header_start:secs[1].body_start] == "1) Reason for visit: "
    assert note[secs[1].body_start:secs[1].body_end] == "follow up"
    assert note[secs[2].body_start:secs[2].body_end] == "continue"
    assert find_sections("") == [] and parse_sections("  \n") == {}


def test_crlf_line_endings():
    assert parse_sections("Plan\r\ncontinue\r\nLabs:\r\nWBC 5\r\n") == {"plan": "continue", "laboratory_results": "WBC 5"}


def test_render_sections_numbered_in_given_order():
    sections = {"treatment_site": "left breast", "reason_for_visit": " follow-up ", "plan": "x"}
    assert render_sections(sections, DIAGNOSIS_INPUT[:3]) == (
        "1) Reason for visit: follow-up\n2) Treatment site: left breast\n3) Subjective: ")
    assert render_sections(sections, ["nursing_ros", "plan"], numbered=False) == (
        "Nursing review of systems: \nPlan: x")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from([v for _, v in ALL_VARIANTS]),
                          st.sampled_from(["\n", ":", "1) ", "**", "\r\n", "# "])), max_size=25))
def test_parser_never_crashes_and_offsets_are_consistent(pieces):
    text = "".join(pieces)
    secs = find_sections(text)
    prev_end = 0
    for s in secs:
        assert prev_end <= s.header_start <= s.body_start <= s.body_end <= len(text)
        body = text[s.body_start:s.body_end]
        assert body == body.strip()
        assert s.key in SECTIONS or s.key == "preamble"
        prev_end = s.body_end
    parsed = parse_sections(text)
    assert set(parsed) == {s.key for s in secs}


@pytest.mark.parametrize("header", ["Assessment and Plan:", "A/P:", "Impression and Plan:", "ASSESSMENT/PLAN:",
                                    "2) A&P:", "**Impression & Plan:**"])
def test_combined_headers_open_the_plan_and_end_the_diagnosis(header):
    note = f"Diagnosis: IDC of the left breast\n{header} stable.\n1. continue letrozole"
    sections = parse_sections(note)
    assert sections["diagnosis"] == "IDC of the left breast"
    assert sections["plan"] == "stable.\n1. continue letrozole" and "assessment" not in sections


def test_the_shipped_yaml_is_the_header_map():
    import yaml

    from cancerllm.data.section_names import COMBINED_HEADERS, HEADERS_FILE
    data = yaml.safe_load(HEADERS_FILE.read_text())
    assert data["headers"] == HEADER_VARIANTS and data["combined"] == COMBINED_HEADERS
    assert set(HEADER_VARIANTS) == set(SECTIONS) and set(COMBINED_HEADERS) <= set(SECTIONS)
