"""Hostile and broken input at the text entry points the data tests do not already cover.

Property tests (hypothesis) over the scorer, the task builders, batch predict, the HTTP
service, the sentence splitter, the prompt template and de-identification. Each asserts
what a user relies on: nothing escapes but the documented error types
(`cancerllm.errors`), and every input record is accounted for, processed or reported.
The readers, section parser and span readers have their own property tests in tests/data.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cancerllm.errors import CancerLLMError, RecordError

PROPS = settings(max_examples=50, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(PROPS, max_examples=25)

# Every code point, lone surrogates and control characters included.
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3), max_leaves=6)
NASTY = [b"", b"   ", b"\xef\xbb\xbf", b"\xff\xfe\x00", b"{", b"[" * 5000, b"1" * 5000, b"null", b"NaN",
         b'{"id": "a"}', b'{"id": ["a"]}', b'{"id": true}', b'{"\\ud800": "\\udfff"}', b"\x00\x01\x1b[31m"]


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()   # lone surrogates survive as \\udXXX escapes


def record_lines(fields: dict) -> st.SearchStrategy[bytes]:
    """One JSONL line: a valid record, one with a field of any type, any JSON value, or junk bytes."""
    valid = st.fixed_dictionaries(fields).map(dumps)
    broken = st.fixed_dictionaries({k: st.one_of(v, json_values) for k, v in fields.items()}).map(dumps)
    return st.one_of(valid, valid, broken, json_values.map(dumps), st.binary(max_size=30), st.sampled_from(NASTY))


def records_file(tmp_path, name: str, lines: list[bytes]):
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines))
    return path


def nonblank(lines: list[bytes]) -> list[int]:
    """1-based numbers of the lines a reader counts as records (blank lines and a BOM are not)."""
    data = b"\n".join(lines).removeprefix(b"\xef\xbb\xbf")
    return [i for i, x in enumerate(data.split(b"\n"), start=1) if x.strip()]


# ---------------------------------------------------------------- scorer

REF_IDS = ["a", "b", "c"]


@PROPS
@given(st.lists(record_lines({"id": st.sampled_from([*REF_IDS, "x", 7]), "prediction": any_text}), max_size=6))
def test_scorer_scores_every_reference_or_raises_a_documented_error(tmp_path, lines):
    from cancerllm.evaluate.scoring import score_files
    from cancerllm.io import atomic_write_jsonl
    refs = records_file(tmp_path, "refs.jsonl", [dumps({"id": i, "response": f"left breast {i}"}) for i in REF_IDS])
    preds = records_file(tmp_path, "preds.jsonl", lines)
    try:
        result = score_files(preds, refs)
    except RecordError as err:   # a malformed line: named by file and line, scoring refused
        assert err.source == str(preds) and err.line in nonblank(lines)
        return
    except CancerLLMError:       # ids that do not pair up, listed
        return
    assert [r["id"] for r in result.per_instance] == REF_IDS
    assert all(0 <= r[m]["f1"] <= 1 for r in result.per_instance for m in ("exact_match", "bleu2", "rouge_l"))
    atomic_write_jsonl(tmp_path / "per_instance.jsonl", result.per_instance)  # writable as UTF-8


@PROPS
@given(any_text, any_text, st.sampled_from(["reference", "standard"]))
def test_score_instance_takes_any_text(reference, prediction, mode):
    from cancerllm.evaluate.scoring import score_instance
    scores = score_instance(reference, prediction, mode)
    assert all(0.0 <= v <= 1.0 for triple in scores.values() for v in triple)


# ---------------------------------------------------------------- task builders

ENTITY = st.fixed_dictionaries({"start": st.integers(0, 50), "end": st.integers(0, 50),
                                "label": st.sampled_from(["tumor_size", "cancer_grade"]), "text": any_text})


@PROPS
@given(st.lists(record_lines({"id": any_text, "patient_id": any_text, "text": any_text,
                              "entities": st.lists(ENTITY, max_size=3)}), max_size=8))
def test_phenotype_builder_accounts_for_every_line(tmp_path, lines):
    from cancerllm.tasks.registry import get_task
    records_file(tmp_path, "phenotypes.jsonl", lines)
    reports: list = []
    records = list(get_task("phenotype").build(str(tmp_path), reports))
    (report,) = reports
    assert report.n_read + report.n_skipped == len(nonblank(lines))
    assert len(records) == 8 * report.n_read                      # 8 questions per sentence read
    assert all(e.line in nonblank(lines) for e in report.skipped)
    json.dumps(records, ensure_ascii=False).encode("utf-8")       # writable as UTF-8


@PROPS
@given(st.lists(record_lines({"id": any_text, "patient_id": any_text, "text": any_text,
                              "sections": st.dictionaries(st.sampled_from(["diagnosis", "plan", "objective"]),
                                                          any_text, max_size=3)}), max_size=8))
def test_note_task_builders_account_for_every_line(tmp_path, lines):
    from cancerllm.tasks.registry import get_task
    records_file(tmp_path, "notes.jsonl", lines)
    for task in ("diagnosis", "treatment"):
        reports: list = []
        records = list(get_task(task).build(str(tmp_path), reports))
        (report,) = reports
        assert report.n_read + report.n_skipped == len(nonblank(lines))
        assert len(records) <= report.n_read and len({r["id"] for r in records}) == len(records)
        json.dumps(records, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- batch predict and the service


@FEW
@given(st.lists(record_lines({"id": st.one_of(any_text, st.integers(0, 3)), "text": any_text}), max_size=6))
def test_predict_writes_one_entry_per_input_line(tmp_path_factory, tiny_engine, lines):
    from cancerllm.serve.predict import predict
    tmp = tmp_path_factory.mktemp("predict")
    source, out = records_file(tmp, "notes.jsonl", lines), tmp / "out.jsonl"
    counts = predict("diagnose", "unused", source, out, max_chars=200, progress=False, engine=tiny_engine)
    entries = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    # Every line exactly once, but a last line with no newline that is not JSON: its writer
    # may still be appending, so it waits for the next run (counted as incomplete).
    torn = nonblank(lines)[-1:] if counts["incomplete"] else []
    assert counts["incomplete"] <= 1 and sorted(e["line"] for e in entries) + torn == nonblank(lines)
    assert counts["records"] == len(entries) == counts["written"] + counts["errors"]
    assert all(("error" in e) != ("prediction" in e) for e in entries)


@pytest.fixture(scope="module")
def client(tiny_engine):
    from fastapi.testclient import TestClient

    from cancerllm.serve.http import create_app
    with TestClient(create_app(tiny_engine, max_body_bytes=4096), raise_server_exceptions=False,
                    base_url="http://localhost") as c:
        yield c


BODIES = st.one_of(st.fixed_dictionaries({"text": any_text}).map(dumps),
                   st.fixed_dictionaries({"text": json_values, "id": json_values}).map(dumps),
                   st.dictionaries(any_text, json_values, max_size=3).map(dumps),
                   json_values.map(dumps), st.binary(max_size=60), st.sampled_from(NASTY),
                   st.just(dumps({"text": "Diagnosis: carcinoma.", "id": 3})), st.just(dumps({"text": "x" * 5000})))


@FEW
@given(st.sampled_from(["extract", "diagnose", "plan"]), BODIES)
def test_service_answers_any_body_with_a_result_or_a_client_error(client, endpoint, body):
    response = client.post(f"/v1/{endpoint}", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400, 413, 422), response.text
    if response.status_code == 200:
        assert {"id", "task", "model"} <= set(response.json())
    assert client.get("/health").json()["status"] == "ok"


# ---------------------------------------------------------------- other text entry points


@PROPS
@given(st.text(st.characters(exclude_categories=()), max_size=300))
def test_sentence_splitter_offsets_index_the_note(text):
    from cancerllm.tasks.jobs import MAX_SENTENCE_CHARS, split_sentences
    end = 0
    for s in split_sentences(text):
        assert text[s.start:s.end] == s.text and s.start >= end and len(s.text) <= MAX_SENTENCE_CHARS
        end = s.end


@PROPS
@given(any_text, any_text)
def test_deidentification_takes_any_text(text, patient):
    from cancerllm.data.deid.core import Deidentifier
    result = Deidentifier("secret").deidentify(text, patient)
    assert isinstance(result.text, str) and all(n > 0 for n in result.counts.values())
    assert all(0 <= s.start < s.end <= len(text) for s in result.spans)
