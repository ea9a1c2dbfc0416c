"""Generation progress: "n/N, ETA" lines in a log, counted from what a resumed file holds."""

from __future__ import annotations

import io
import json

from cancerllm.evaluate.progress import already_done, generation_progress


def test_lines_count_from_the_resumed_records_and_end_at_the_total(tmp_path):
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": i, "prediction": "x"}) + "\n" for i in ("a", "b", "zz")))
    records = [{"id": i} for i in "abcdef"]
    assert already_done(pred, records) == 2 and already_done(pred, records, limit=1) == 1
    assert already_done(tmp_path / "missing.jsonl", records) == 0
    log = io.StringIO()
    with generation_progress("phenotype", 6, initial=2, interval_s=3600, stream=log) as report:
        report(2)          # throttled: within the interval, not the end
        report(2)          # the end is always written
    lines = log.getvalue().splitlines()
    assert lines[0] == "phenotype: 2/6 done, generating 4"
    assert len(lines) == 2 and lines[1].startswith("phenotype: 6/6 (100%), ") and "ETA 00:00" in lines[1]


def test_every_batch_is_a_line_with_an_eta_when_the_interval_is_zero():
    log = io.StringIO()
    with generation_progress("diagnosis", 3, stream=log, interval_s=0) as report:
        report(1)
    assert log.getvalue().splitlines()[1].startswith("diagnosis: 1/3 (33%)") and "ETA" in log.getvalue()


def test_disabled_or_nothing_left_gives_no_callback():
    log = io.StringIO()
    with generation_progress("x", 5, enabled=False, stream=log) as report:
        assert report is None
    with generation_progress("x", 5, initial=5, stream=log) as report:
        assert report is None
    assert log.getvalue() == ""
