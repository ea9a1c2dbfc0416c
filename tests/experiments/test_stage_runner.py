"""StageRunner running stages side by side (`lanes`), with real child processes.

Checked: independent stages overlap in time and each gets its share of the cores; a
stage starts only after what it depends on; one stages.json holds every record although
several processes wrote it; the job's wall time counts overlapping stages once; a failed
stage lets its running sibling finish (its work is kept), raises, and a rerun resumes.
"""

from __future__ import annotations

import json
import os

import pytest

from cancerllm.errors import CancerLLMError
from cancerllm.runs import wall_seconds
from cancerllm.runtime import allocator_library
from tests.experiments.stage_job import run, runner_for


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_independent_stages_run_side_by_side_after_what_they_need(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CANCERLLM_THREADS", raising=False)
    monkeypatch.delenv("TOY_FAIL", raising=False)
    run(runner_for(tmp_path, lanes=2))
    stages = json.loads((tmp_path / "stages.json").read_text())
    assert set(stages) == {"a", "b", "c", "d"}
    b, c, d = stages["b"], stages["c"], stages["d"]
    assert b["started"] < c["ended"] and c["started"] < b["ended"]          # b and c overlapped
    assert d["started"] >= max(b["ended"], c["ended"])                      # d waited for both
    assert stages["a"]["ended"] <= min(b["started"], c["started"])
    assert b["result"]["pid"] != c["result"]["pid"] and b["process"] == "child"
    assert b["result"]["threads"] == str(max(1, _cores() // 2)) == str(b["threads"])
    assert b["result"]["mimalloc"] == (allocator_library() is not None)     # preloaded where installed
    assert not stages["a"]["result"]["mimalloc"] or "libmimalloc" in os.environ.get("LD_PRELOAD", "")
    assert wall_seconds(stages) < sum(s["seconds"] for s in stages.values())
    assert (tmp_path / "logs" / "b.log").is_file()
    assert "started in its own process" in capsys.readouterr().out


def test_one_lane_runs_them_one_after_another_with_the_users_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("CANCERLLM_THREADS", "1")
    monkeypatch.delenv("TOY_FAIL", raising=False)
    run(runner_for(tmp_path, lanes=1))
    stages = json.loads((tmp_path / "stages.json").read_text())
    assert stages["b"]["ended"] <= stages["c"]["started"]
    assert stages["c"]["result"]["threads"] == "1"
    assert wall_seconds(stages) == pytest.approx(sum(s["seconds"] for s in stages.values()), abs=1.5)


def test_a_failed_stage_keeps_its_siblings_work_and_a_rerun_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CANCERLLM_THREADS", raising=False)
    monkeypatch.setenv("TOY_FAIL", "c")
    with pytest.raises(CancerLLMError, match="c failed"):
        run(runner_for(tmp_path, lanes=2))
    stages = json.loads((tmp_path / "stages.json").read_text())
    assert set(stages) == {"a", "b"}                       # b finished; d never started
    assert "told to fail" in capsys.readouterr().out       # the failed child's log, shown
    monkeypatch.delenv("TOY_FAIL")
    run(runner_for(tmp_path, lanes=2))
    out = capsys.readouterr().out
    assert "b: done earlier" in out and "a: done earlier" in out
    assert set(json.loads((tmp_path / "stages.json").read_text())) == {"a", "b", "c", "d"}


def test_a_stage_waiting_for_a_stage_that_never_runs_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TOY_FAIL", raising=False)
    with pytest.raises(RuntimeError, match="never run"):
        run(runner_for(tmp_path, lanes=2, after={"b": ["a", "nowhere"], "c": ["a"], "d": ["b", "c"]}))


def test_wall_seconds_counts_overlaps_once_and_skips_gaps():
    stages = {"x": {"seconds": 10, "started": 0, "ended": 10}, "y": {"seconds": 6, "started": 5, "ended": 11},
              "z": {"seconds": 2, "started": 100, "ended": 102}, "old": {"seconds": 3}}
    assert wall_seconds(stages) == 11 + 2 + 3


def test_with_a_seed_every_stage_starts_from_it_whatever_ran_before(tmp_path):
    import random

    from cancerllm.runs import StageRunner
    draws = lambda: {"draw": random.random()}  # noqa: E731
    seeded = StageRunner(tmp_path / "seeded", seed=3, label="toy")
    first, second = seeded("x", draws)["draw"], seeded("y", draws)["draw"]
    assert first == second                               # each stage re-seeded before it ran
    plain = StageRunner(tmp_path / "plain", label="toy")
    assert plain("x", draws)["draw"] != plain("y", draws)["draw"]
    # a rerun of the folder that only has y left (a resumed run) draws what y drew the first time
    (tmp_path / "seeded" / "stages.json").write_text(json.dumps(
        {"x": json.loads((tmp_path / "seeded" / "stages.json").read_text())["x"]}))
    random.random()
    assert StageRunner(tmp_path / "seeded", seed=3, label="toy")("y", draws)["draw"] == second


def test_the_stage_most_work_waits_on_starts_first(tmp_path):
    """Critical-path order: a short stage with a long chain behind it goes before longer side
    stages (longest-first would run both side stages first and leave the chain for last)."""
    from cancerllm.runs import StageRunner
    order = []
    step = lambda name: (lambda: order.append(name))  # noqa: E731
    runner = StageRunner(tmp_path, estimates={"side1": 10, "side2": 10, "head": 1, "tail": 20}, lanes=2,
                         after={"side1": [], "side2": [], "head": [], "tail": ["head"]}, label="toy")
    for name in ("side1", "side2", "head", "tail"):
        runner(name, step(name))
    runner.finish()
    assert order == ["head", "tail", "side1", "side2"]
