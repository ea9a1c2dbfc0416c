"""Input readers: every record is read or reported (file:line + reason), never lost silently."""

from __future__ import annotations

import csv
import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cancerllm.data.readers import iter_documents, read_documents
from cancerllm.errors import InputError, RecordError

PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SECRET = "Jane Secretname"   # stands for note text: must never appear in an error message


def write_jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def assert_no_text_in_errors(report):
    for e in report.skipped + report.file_errors:
        assert SECRET not in str(e)


def test_jsonl_good_and_malformed_records(tmp_path):
    p = write_jsonl(tmp_path / "notes.jsonl", [
        {"id": "a", "text": "note a", "patient_id": "p1", "date": "2020-01-01"},
        '{"id": "b", "text": "' + SECRET,          # line 2: torn JSON
        "[1, 2]",                                   # line 3: not an object
        {"id": "c", "note": SECRET},                # line 4: missing text field
        {"id": "d", "text": 42},                    # line 5: text not a string
        {"id": "e", "text": "  \n "},               # line 6: empty text
        "",                                         # line 7: blank, not a record
        {"id": 7, "text": "note seven", "patient_id": 12},
        {"id": ["x"], "text": "bad id type"},       # line 9
        {"id": "a", "text": SECRET},                # line 10: duplicate id
    ])
    res = read_documents(p)
    assert [d.id for d in res.documents] == ["a", "7"]
    a, seven = res.documents
    assert (a.text, a.patient_id, a.metadata, a.line) == ("note a", "p1", {"date": "2020-01-01"}, 1)
    assert (seven.patient_id, seven.line, seven.source) == ("12", 8, str(p))
    rep = res.report
    assert (rep.n_read, rep.n_skipped) == (2, 7)
    assert [e.line for e in rep.skipped] == [2, 3, 4, 5, 6, 9, 10]
    assert all(isinstance(e, RecordError) and e.source == str(p) for e in rep.skipped)
    reasons = [e.reason for e in rep.skipped]
    assert reasons[0].startswith("not valid JSON") and reasons[1].startswith("not a JSON object")
    assert "missing text field 'text'" in reasons[2] and "is int" in reasons[3]
    assert reasons[4] == "empty text" and "duplicate id" in reasons[6]
    assert rep.skipped[6].record_id == "a"
    assert "read 2, skipped 7" in rep.summary()
    assert_no_text_in_errors(rep)


def test_custom_fields_and_default_ids(tmp_path):
    p = write_jsonl(tmp_path / "n.jsonl", [{"body": "x1", "mrn": "m1"}, {"body": "x2"}])
    docs = read_documents(p, text_field="body", patient_field="mrn").documents
    assert [(d.id, d.text, d.patient_id) for d in docs] == [("n.jsonl:1", "x1", "m1"), ("n.jsonl:2", "x2", None)]


def test_non_utf8_bytes_are_repaired_not_lost(tmp_path):
    p = tmp_path / "n.jsonl"
    p.write_bytes(b'{"id": "a", "text": "caf\xe9 au lait"}\n{"id": "b", "text": "\\ud800 lone"}\n'
                  b'{"id": "c", "text": "fine"}\n')
    res = read_documents(p)
    assert [d.text for d in res.documents] == ["caf\ufffd au lait", "\ufffd lone", "fine"]
    assert res.report.n_repaired == 2 and res.report.n_skipped == 0
    for d in res.documents:
        d.text.encode("utf-8")   # always writable as UTF-8 afterwards


def test_control_characters_removed_and_counted(tmp_path):
    p = write_jsonl(tmp_path / "n.jsonl", [{"id": "a", "text": "a\x00b\x07c\td\r\ne\rf\x85g"}])
    res = read_documents(p)
    assert res.documents[0].text == "abc\td\ne\nfg"
    assert res.report.n_control_removed == 3


def test_empty_files_are_reported(tmp_path):
    for name in ("a.jsonl", "b.csv", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "d.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "e.csv").write_text("id,text\n", encoding="utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   tmp_path / "f.parquet")
    res = read_documents(tmp_path)
    assert res.documents == [] and res.report.n_skipped == 0
    assert sorted(p.rsplit("/", 1)[-1] for p in res.report.empty_files) == [
        "a.jsonl", "b.csv", "c.txt", "d.txt", "e.csv", "f.parquet"]
    assert "empty file" in res.report.summary()


def test_csv_custom_columns_multiline_and_bad_rows(tmp_path):
    p = tmp_path / "notes.csv"
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["NoteID", "MRN", "NoteText", "Service"])
        w.writerow(["n1", "m1", "line one\nline two", "onc"])   # row 2 (spans two physical lines)
        w.writerow(["n2", SECRET])                              # row 3: wrong column count
        w.writerow([])                                          # blank: not a record
        w.writerow(["n3", "m3", "", "onc"])                     # row 5: empty text
        w.writerow(["n4", "", "note four", "rad"])              # row 6
    res = read_documents(p, text_field="NoteText", id_field="NoteID", patient_field="MRN")
    assert [(d.id, d.text, d.patient_id, d.metadata, d.line) for d in res.documents] == [
        ("n1", "line one\nline two", "m1", {"Service": "onc"}, 2), ("n4", "note four", None, {"Service": "rad"}, 6)]
    assert [(e.line, e.reason.split(" (")[0]) for e in res.report.skipped] == [
        (3, "wrong number of columns"), (5, "empty text")]
    assert_no_text_in_errors(res.report)


def test_csv_without_text_column_is_an_input_error(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("id,body\n1,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="no text column"):
        list(iter_documents(p))


def test_csv_non_utf8_and_bom_and_tsv(tmp_path):
    p = tmp_path / "n.csv"
    p.write_bytes(b"\xef\xbb\xbfid,text\n1,na\xefve\n")
    res = read_documents(p)
    assert res.documents[0].id == "1" and res.documents[0].text == "na\ufffdve" and res.report.n_repaired == 1
    t = tmp_path / "n.tsv"
    t.write_text("id\ttext\n1\ta, b\n", encoding="utf-8")
    assert read_documents(t).documents[0].text == "a, b"


def test_parquet_batches_and_bad_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    n = 2500  # more than one reader batch
    texts = [f"note {i}" for i in range(n)]
    texts[1200] = None
    texts[2400] = ""
    table = pa.table({"doc": [f"d{i}" for i in range(n)], "pid": [f"p{i % 7}" for i in range(n)],
                      "body": texts, "year": list(range(n))})
    p = tmp_path / "notes.parquet"
    pq.write_table(table, p, row_group_size=700)
    res = read_documents(p, text_field="body", id_field="doc", patient_field="pid")
    assert res.report.n_read == n - 2 and res.report.n_skipped == 2
    assert [e.line for e in res.report.skipped] == [1200, 2400]   # 0-based row index
    d = res.documents[5]
    assert (d.id, d.text, d.patient_id, d.metadata, d.line) == ("d5", "note 5", "p5", {"year": 5}, 5)


def test_parquet_wrong_text_type_is_per_record(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    p = tmp_path / "n.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": [3]}), p)
    res = read_documents(p)
    assert res.report.n_skipped == 1 and "is int" in res.report.skipped[0].reason


def test_txt_folder_recursive_mixed_formats(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "n1.txt").write_text("first note", encoding="utf-8")
    (tmp_path / "a" / "n2.txt").write_bytes(b"second \xff note")
    (tmp_path / "x.jsonl").write_text('{"id": "j1", "text": "json note"}\n', encoding="utf-8")
    with gzip.open(tmp_path / "y.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("id,text\nc1,csv note\n")
    (tmp_path / "readme.md").write_text("ignored", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("ignored", encoding="utf-8")
    res = read_documents(tmp_path)
    assert {d.id: d.text for d in res.documents} == {
        "a/b/n1.txt": "first note", "a/n2.txt": "second \ufffd note", "j1": "json note", "c1": "csv note"}
    assert res.report.n_repaired == 1 and len(res.report.ignored_files) == 1


def test_folder_with_a_broken_file_reads_the_others(tmp_path):
    (tmp_path / "good.jsonl").write_text('{"id": "a", "text": "ok"}\n', encoding="utf-8")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    (tmp_path / "nocol.csv").write_text("id,body\n1,x\n", encoding="utf-8")
    res = read_documents(tmp_path)
    assert [d.id for d in res.documents] == ["a"]
    assert sorted(e.source.rsplit("/", 1)[-1] for e in res.report.file_errors) == ["bad.parquet", "nocol.csv"]


def test_duplicate_ids_across_files_of_one_input(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "one"}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": "x", "text": "two"}\n', encoding="utf-8")
    res = read_documents(tmp_path)
    assert [d.text for d in res.documents] == ["one"]
    assert res.report.skipped[0].source.endswith("b.jsonl") and "duplicate id" in res.report.skipped[0].reason


def test_whole_input_problems_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        iter_documents(tmp_path / "missing.jsonl")
    (tmp_path / "n.xyz").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="unknown file type"):
        iter_documents(tmp_path / "n.xyz")
    assert read_documents(tmp_path / "n.xyz", fmt="txt").documents[0].text == "x"
    with pytest.raises(InputError, match="unknown format"):
        iter_documents(tmp_path / "n.xyz", fmt="docx")
    with pytest.raises(InputError, match="no file of a supported type"):
        iter_documents(tmp_path)
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    with pytest.raises(InputError):
        list(iter_documents(tmp_path / "bad.parquet"))


def test_stream_reiterates_with_fresh_report(tmp_path):
    p = write_jsonl(tmp_path / "n.jsonl", [{"id": "a", "text": "x"}, "oops"])
    stream = iter_documents(p)
    assert len(list(stream)) == 1 and len(list(stream)) == 1
    assert (stream.report.n_read, stream.report.n_skipped) == (1, 1)


def test_cli_read_prints_counts_and_reasons(tmp_path):
    from cancerllm.cli import app
    p = write_jsonl(tmp_path / "n.jsonl", [{"id": "a", "text": "x"}, "{" + SECRET])
    out = CliRunner().invoke(app, ["data", "read", str(p)])
    assert out.exit_code == 0, out.output
    assert "read 1, skipped 1" in out.output and f"{p}:2" in out.output and SECRET not in out.output
    out = CliRunner().invoke(app, ["data", "read", str(p), "--json"])
    assert json.loads(out.output)["n_skipped"] == 1


# -- properties: nothing escapes but InputError, and every record is accounted for ------

def _nonblank_lines(data: bytes) -> int:
    """JSONL records: lines with a non-whitespace byte (a leading UTF-8 BOM does not count)."""
    return sum(1 for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n") if line.strip())


@PROPS
@given(st.lists(st.one_of(st.binary(max_size=40),
                          st.builds(lambda t, i: json.dumps({"id": i, "text": t}).encode(),
                                    st.text(max_size=30), st.integers(0, 5)),
                          st.sampled_from([b"{}", b"[]", b"null", b'{"text": null}', b"\xef\xbb\xbf{"])),
                max_size=12))
def test_jsonl_any_bytes_every_line_accounted_for(tmp_path, lines):
    data = b"\n".join(lines)
    p = tmp_path / "p.jsonl"
    p.write_bytes(data)
    stream = iter_documents(p)
    docs = list(stream)
    rep = stream.report
    assert rep.n_read == len(docs)
    assert rep.n_read + rep.n_skipped == _nonblank_lines(data)
    for d in docs:
        assert d.text.strip() and d.text.encode("utf-8")


@PROPS
@given(st.lists(st.lists(st.text(max_size=15), max_size=4), max_size=10))
def test_csv_any_fields_every_row_accounted_for(tmp_path, rows):
    p = tmp_path / "p.csv"
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "patient_id"])
        w.writerows(rows)
    stream = iter_documents(p)
    docs = list(stream)
    expected = sum(1 for r in rows if not (len(r) <= 1 and not "".join(r).strip()))
    assert stream.report.n_read == len(docs)
    assert stream.report.n_read + stream.report.n_skipped == expected


@PROPS
@given(st.binary(max_size=200))
def test_csv_any_bytes_never_crashes(tmp_path, data):
    p = tmp_path / "p.csv"
    p.write_bytes(b"id,text\n" + data)
    stream = iter_documents(p)
    docs = list(stream)
    assert stream.report.n_read == len(docs)


@PROPS
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=20).map(lambda b: b"\xef\xbb\xbf" + b)))
def test_txt_any_bytes_one_record_or_empty(tmp_path, data):
    p = tmp_path / "p.txt"
    p.write_bytes(data)
    stream = iter_documents(p)
    docs = list(stream)
    rep = stream.report
    if data.removeprefix(b"\xef\xbb\xbf").strip():
        assert rep.n_read + rep.n_skipped == 1 and not rep.empty_files
    else:
        assert rep.n_read + rep.n_skipped == 0 and rep.empty_files == [str(p)]
    assert all(d.text.strip() for d in docs)


# ---------------------------------------------------------------- round two: hostile structure


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [500, 990])
def test_deeply_nested_record_is_skipped_with_its_line(tmp_path, levels):
    p = tmp_path / "n.jsonl"
    p.write_text('{"id": "a", "text": "first"}\n'
                 f'{{"id": "b", "text": "second", "extra": {_deep(levels)}}}\n'
                 '{"id": "c", "text": "third"}\n', encoding="utf-8")
    res = read_documents(p)
    assert [d.id for d in res.documents] == ["a", "c"]
    (err,) = res.report.skipped
    assert err.line == 2 and "nested deeper than 64 levels" in err.reason


def test_deep_nesting_does_not_stop_the_corpus_and_tasks_stages(tmp_path):
    from cancerllm.data.corpus import build_corpus
    from cancerllm.tasks.build import build_tasks
    notes = tmp_path / "in" / "notes.jsonl"
    notes.parent.mkdir()
    from tests.serve.lively import NOTES
    good = [{"id": f"n{i}", "patient_id": f"p{i}", "text": f"{NOTES[0]}\nVisit {i}."} for i in range(6)]
    bad = '{"id": "deep", "patient_id": "pd", "text": "Diagnosis: x.", "extra": ' + _deep(900) + "}"
    notes.write_text("\n".join([json.dumps(good[0]), bad, *map(json.dumps, good[1:])]) + "\n", encoding="utf-8")
    summary = build_corpus([str(notes)], tmp_path / "corpus")
    assert summary["n_skipped_records"] == 1 and "notes.jsonl:2" in summary["skipped_records"][0]
    tasks = build_tasks(notes.parent, tmp_path / "tasks", tasks="diagnosis", save_hf=False)
    assert tasks["n_skipped"]["diagnosis"] == 1
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_failing_stage_leaves_no_hidden_temp_file_with_note_text(tmp_path, monkeypatch):
    from cancerllm.data import corpus
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": f"n{i}", "text": f"SECRET note {i}: " + "abcdefghij"[i:] * 40})
                             + "\n" for i in range(6)))
    monkeypatch.setattr(corpus, "read_inputs", _fail_after(corpus.read_inputs, 4))
    with pytest.raises(KeyboardInterrupt):
        corpus.build_corpus([str(notes)], tmp_path / "out")
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert not any("SECRET" in p.read_text(errors="replace") for p in leftovers), leftovers


def _fail_after(gen_fn, n: int):
    def wrapped(*args, **kwargs):
        for i, item in enumerate(gen_fn(*args, **kwargs)):
            if i == n:
                raise KeyboardInterrupt
            yield item
    return wrapped


def test_csv_unclosed_quote_is_reported_and_later_rows_still_read(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text('id,text\n1,"ok note"\n2,"unclosed note\n3,third note\n4,"fourth, quoted"\n', encoding="utf-8")
    res = read_documents(p)
    assert [(d.id, d.text) for d in res.documents] == [("1", "ok note"), ("3", "third note"),
                                                         ("4", "fourth, quoted")]
    (err,) = res.report.skipped
    assert err.line == 3 and "unclosed quote" in err.reason and "line 3" in err.reason


def test_ids_in_skip_reasons_cannot_forge_report_lines(tmp_path):
    p = tmp_path / "n.jsonl"
    p.write_text(json.dumps({"id": "x\nread 999, skipped 0 \x1b[2J", "text": ""}) + "\n", encoding="utf-8")
    res = read_documents(p)
    summary = res.report.summary()
    assert len(summary.splitlines()) == 3 and "\x1b" not in summary and "x\\nread 999" in summary
