"""Annotation formats: span JSON, BIO/CoNLL, BRAT; validation and round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cancerllm.data.annotations import (AnnotatedText, Entity, read_bio, read_brat, read_spans, write_bio,
                                        write_brat, write_spans)
from cancerllm.errors import InputError

PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SECRET = "Jane Secretname"

SENT = "ER positive invasive ductal carcinoma of the left breast , grade 2 ."


def ent(text, phrase, label, nth=0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(phrase, start + 1)
    return Entity(start, start + len(phrase), label, phrase)


def sample_docs():
    return [
        AnnotatedText("s1", SENT, [ent(SENT, "ER", "hormone_receptor_type"),
                                   ent(SENT, "positive", "hormone_receptor_status"),
                                   ent(SENT, "invasive ductal carcinoma", "histological_type"),
                                   ent(SENT, "left", "tumor_laterality"), ent(SENT, "breast", "tumor_site"),
                                   ent(SENT, "grade 2", "cancer_grade")]),
        AnnotatedText("s2", "No relevant findings .", []),
        AnnotatedText("s3", "T2 N0 M0", [Entity(0, 8, "cancer_stage", "T2 N0 M0")]),
    ]


def write_lines(path, lines):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_span_jsonl_round_trip(tmp_path):
    docs = sample_docs()
    p = write_spans(tmp_path / "s.jsonl", docs)
    back, errors = read_spans(p)
    assert errors == [] and back == docs


def test_span_json_accepts_spans_and_type_keys(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps([{"text": "ER+ tumour", "spans": [{"start": 0, "end": 2, "type": "hr"}]}]),
                 encoding="utf-8")
    docs, errors = read_spans(p)
    assert errors == [] and docs == [AnnotatedText("s.json:1", "ER+ tumour", [Entity(0, 2, "hr", "ER")])]


def test_span_validation_reports_file_line_and_keeps_the_rest(tmp_path):
    text = f"{SECRET} has ER+ disease"
    good = {"start": 20, "end": 22, "label": "hr"}
    p = write_lines(tmp_path / "s.jsonl", [
        {"id": "a", "text": text, "entities": [
            good,
            {"start": 5, "end": 500, "label": "x"},               # outside the text
            {"start": 9, "end": 4, "label": "x"},                 # inverted
            {"start": 21, "end": 23, "label": "x"},               # overlaps the good one
            {"start": 0, "end": 4, "label": "name", "text": "Jake"},  # text mismatch
            {"start": "0", "end": 4, "label": "x"},               # not an int
            {"start": 0, "end": 4},                               # no label
            "not an object"]},
        "{broken",
        {"id": "b", "entities": []},                              # no text
        {"id": "c", "text": "ok", "entities": {"start": 0}},      # entities not a list
        {"id": "a", "text": "dup"},
    ])
    docs, errors = read_spans(p)
    assert [(d.id, d.entities) for d in docs] == [("a", [Entity(20, 22, "hr", "ER")])]
    assert [e.line for e in errors] == [1] * 7 + [2, 3, 4, 5]
    assert all(e.source == str(p) for e in errors)
    reasons = " | ".join(e.reason for e in errors)
    for why in ("outside the text", "inverted", "overlaps", "does not match", "integers", "no label",
                "not an object", "not valid JSON", "missing text", "not a list", "duplicate id"):
        assert why in reasons
    assert all(SECRET not in str(e) and "Jake" not in str(e) for e in errors)


def test_bio_round_trip_span_to_bio_to_span(tmp_path):
    docs = sample_docs()
    write_bio(tmp_path / "d.bio", docs)
    back, errors = read_bio(tmp_path / "d.bio")
    assert errors == [] and back == docs
    write_spans(tmp_path / "s.jsonl", back)
    assert read_spans(tmp_path / "s.jsonl")[0] == docs


def test_bio_reads_conll_columns_iob1_and_bioes(tmp_path):
    p = tmp_path / "d.conll"
    p.write_text("-DOCSTART- -X- O O\n\n"
                 "Left NNP I-LAT\nbreast NN I-SITE\nmass NN I-SITE\n. . O\n\n"   # IOB1: I- starts entities
                 "ER\tS-HR\nstrongly\tB-ST\npositive\tE-ST\n\n"                      # BIOES
                 "T2 O\n", encoding="utf-8")
    docs, errors = read_bio(p)
    assert errors == []
    assert [(d.text, [(e.label, e.text) for e in d.entities]) for d in docs] == [
        ("Left breast mass .", [("LAT", "Left"), ("SITE", "breast mass")]),
        ("ER strongly positive", [("HR", "ER"), ("ST", "strongly positive")]),
        ("T2", []),
    ]
    assert [d.id for d in docs] == ["d.conll:3", "d.conll:8", "d.conll:12"]


def test_bio_bad_lines_skip_only_their_sentence(tmp_path):
    p = tmp_path / "d.bio"
    p.write_text(f"ok O\n\n{SECRET.split()[0]}\nx O\n\ny WEIRD\n\nfine B-X\n", encoding="utf-8")
    docs, errors = read_bio(p)
    assert [d.text for d in docs] == ["ok", "fine"]
    assert [(e.line, e.reason) for e in errors] == [
        (3, "line has no tag column"), (6, "unknown tag (expected O, B-X, I-X, E-X or S-X)")]
    assert all("Jane" not in str(e) for e in errors)


def test_bio_writer_splits_tokens_at_entity_boundaries(tmp_path):
    doc = AnnotatedText("x", "ER+/PR- tumour", [Entity(0, 2, "hr"), Entity(2, 3, "st")])
    write_bio(tmp_path / "x.bio", [doc])
    (back,), _ = read_bio(tmp_path / "x.bio")
    assert back.text == "ER + /PR- tumour"
    assert [(e.label, e.text) for e in back.entities] == [("hr", "ER"), ("st", "+")]


def test_brat_round_trip(tmp_path):
    docs = sample_docs() + [AnnotatedText("multi", "line one\r\nleft\nbreast", [Entity(10, 21, "site")])]
    write_brat(tmp_path / "brat", docs)
    back, errors = read_brat(tmp_path / "brat")
    assert errors == []
    assert sorted(back, key=lambda d: d.id) == sorted(
        [AnnotatedText(d.id, d.text, [Entity(e.start, e.end, e.label, d.text[e.start:e.end]) for e in d.entities])
         for d in docs], key=lambda d: d.id)


def test_brat_validation_and_discontinuous_spans(tmp_path):
    folder = tmp_path / "b"
    (folder / "sub").mkdir(parents=True)
    text = "Left breast, upper outer quadrant."
    (folder / "sub" / "n1.txt").write_text(text, encoding="utf-8")
    (folder / "sub" / "n1.ann").write_text(
        "T1\tLaterality 0 4\tLeft\n"
        "T2\tSite 5 11;13 18\tbreast upper\n"        # discontinuous: skipped, reported
        "T3\tSite 5 11\tbreest\n"                    # text mismatch
        "T4\tSite 0 99\tLeft\n"                      # outside the text
        "T5\tSite 2 6\teft \n"                       # overlaps T1
        "T6 broken line\n"                           # malformed
        "R1\tLocation Arg1:T1 Arg2:T3\n#1\tAnnotatorNotes T1\tnote\n"
        "T7\tQuadrant 13 33\tupper outer quadrant\n", encoding="utf-8")
    (folder / "no_ann.txt").write_text("nothing here", encoding="utf-8")
    (folder / "orphan.ann").write_text("T1\tX 0 1\ta\n", encoding="utf-8")
    docs, errors = read_brat(folder)
    by_id = {d.id: d for d in docs}
    assert set(by_id) == {"sub/n1", "no_ann"} and by_id["no_ann"].entities == []
    assert [(e.label, e.text) for e in by_id["sub/n1"].entities] == [
        ("Laterality", "Left"), ("Quadrant", "upper outer quadrant")]
    assert sorted((e.line, e.reason.split(" ")[0]) for e in errors if e.line) == [
        (2, "discontinuous"), (3, "span"), (4, "span"), (5, "span"), (6, "malformed")]
    assert any(e.source.endswith("orphan.ann") and e.line is None for e in errors)
    # a single file finds its pair
    single, _ = read_brat(folder / "sub" / "n1.ann")
    assert single[0].id == "n1" and len(single[0].entities) == 2


def test_missing_inputs_raise(tmp_path):
    for reader in (read_spans, read_bio, read_brat):
        with pytest.raises(InputError):
            reader(tmp_path / "missing")


# -- properties ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "text", "entities", "spans", "start", "end", "label", "type", "x"]), inner,
        max_size=6),
    max_leaves=25)


@PROPS
@given(st.lists(json_values, max_size=6))
def test_span_reader_never_crashes_on_arbitrary_json(tmp_path, records):
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    docs, errors = read_spans(p)
    assert len(docs) <= len(records)
    for d in docs:
        prev_end = 0
        for e in d.entities:
            assert prev_end <= e.start < e.end <= len(d.text) and d.text[e.start:e.end] == e.text
            prev_end = e.end


words = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "P")), min_size=1, max_size=6)


@PROPS
@given(st.lists(st.tuples(words, st.sampled_from(["O", "A", "B"]), st.booleans()), min_size=1, max_size=12))
def test_span_bio_span_round_trip_property(tmp_path, tokens):
    """Whitespace-tokenised text: entities survive span -> BIO -> span unchanged."""
    text, ents, pos, cur = "", [], 0, None
    for i, (tok, label, new) in enumerate(tokens):
        start = pos + (1 if i else 0)
        text += (" " if i else "") + tok
        pos = start + len(tok)
        if label == "O":
            cur = None
        elif cur is not None and cur[2] == label and not new:
            cur[1] = pos
        else:
            cur = [start, pos, label]
            ents.append(cur)
    doc = AnnotatedText("d", text, [Entity(s, e, lab, text[s:e]) for s, e, lab in ents])
    write_bio(tmp_path / "p.bio", [doc])
    back, errors = read_bio(tmp_path / "p.bio")
    assert errors == [] and back == [doc]
