import csv
import json

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import ConfigError
from cancerllm.evaluate.compare import parse_model_refs, write_comparison
from cancerllm.evaluate.compare_report import mean_over_tasks, plot_figure1


def _agg(v):
    return {"exact_match": {"precision": v, "recall": v, "f1": v},
            "bleu2": {"precision": v + 1, "recall": v + 1, "f1": v + 1},
            "rouge_l": {"precision": v + 2, "recall": v + 2, "f1": v + 2},
            "average_f1": v + 1, "n": 10}


def test_write_comparison_tables_and_chart(tmp_path):
    results = {"a": {"diagnosis": {"scores": _agg(10), "generation": {"wall_seconds": 3725.0, "n_instances": 10,
                                                                      "peak_memory_mb": 5550.0}}},
               "b": {"diagnosis": {"scores": _agg(20)}, "treatment": {"scores": _agg(30)}}}
    paths = write_comparison(results, tmp_path, {"seed": 0})
    rows = list(csv.DictReader(open(paths["table2_diagnosis.csv"])))
    assert [r["model"] for r in rows] == ["a", "b"]
    assert rows[1]["EM F1"] == "20.00" and rows[1]["average F1"] == "21.00"
    assert rows[1]["average F1 95% CI"] == "-"          # no per-instance scores, no CI
    cost = list(csv.DictReader(open(paths["table7_cost.csv"])))
    assert cost[0]["diagnosis time"] == "1:02:05" and cost[0]["diagnosis memory (MB)"] == "5550"
    assert cost[0]["treatment time"] == "-"
    md = paths["tables.md"].read_text()
    assert "### Table 3: treatment" in md and "| b | 30.00 |" in md
    png = paths["average_f1.png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_parse_model_refs():
    refs = parse_model_refs(["it=runs/base+runs/it", "plain=models/x", "cpt=runs/cpt:runs/cpt-it/adapter"])
    assert (refs[0].model_dir, refs[0].adapter_dir) == ("runs/base", "runs/it")
    assert refs[1].adapter_dir is None
    assert (refs[2].model_dir, refs[2].adapter_dir) == ("runs/cpt", "runs/cpt-it/adapter")
    with pytest.raises(ConfigError):
        parse_model_refs(["nonsense"])
    with pytest.raises(ConfigError, match="twice"):
        parse_model_refs(["a=x", "a=y"])


def _score(v, ci=None):
    return {"scores": {"average_f1": v}, **({"average_f1_ci": ci} if ci else {})}


def test_figure1_sorts_by_mean_draws_the_floor_as_a_line_and_leaves_absent_systems_out(tmp_path, monkeypatch):
    from matplotlib.axes import Axes
    bars, lines = {}, []
    real_bar, real_axhline = Axes.bar, Axes.axhline

    def bar(self, x, height, *args, label=None, **kwargs):
        bars[label] = (list(x), list(height))
        return real_bar(self, x, height, *args, label=label, **kwargs)

    def axhline(self, y=0, *args, label=None, **kwargs):
        lines.append((label, y))
        return real_axhline(self, y, *args, label=label, **kwargs)

    monkeypatch.setattr(Axes, "bar", bar)
    monkeypatch.setattr(Axes, "axhline", axhline)
    results = {"weak": {"diagnosis": _score(10.0), "phenotype": _score(50.0)},
               "strong": {"diagnosis": _score(30.0, {"ci_low": 25.0, "ci_high": 35.0}), "phenotype": _score(90.0)},
               "rules": {"phenotype": _score(95.0)},
               "majority": {"phenotype": _score(85.0)}}
    means = mean_over_tasks(results, n_boot=0)
    assert means == {"weak": {"mean": 30.0, "per_task": {"diagnosis": 10.0, "phenotype": 50.0}},
                     "strong": {"mean": 60.0, "per_task": {"diagnosis": 30.0, "phenotype": 90.0}}}
    plot_figure1(results, means, tmp_path / "f.png", floor="majority")
    # systems sorted by their mean (strong, weak), then rules (no mean: it lacks diagnosis)
    assert bars["mean over tasks"][1] == [60.0, 30.0]
    assert bars["diagnosis"][1] == [30.0, 10.0]                 # rules has no diagnosis bar, not a 0
    assert bars["phenotype"][1] == [90.0, 50.0, 95.0]
    assert bars["mean over tasks"][0][0] < bars["mean over tasks"][0][1]
    assert all("majority" not in str(label) for label in bars)  # the floor is no bar...
    assert lines == [("majority: phenotype 85.0", 85.0)]      # ...but a line


EXAMPLES = {"phenotype": [("Left breast IDC.", "tumor_laterality", "Left"), ("Left breast IDC.", "tumor_size",
                                                                              "Not relevant"),
                          ("Mass 2 cm.", "tumor_size", "2 cm"), ("Mass 2 cm.", "tumor_laterality", "Not relevant")],
            "diagnosis": "carcinoma of the breast", "treatment": "start letrozole"}


@pytest.fixture(scope="module")
def three_tasks(tmp_path_factory):
    from cancerllm.tasks.phenotype import INSTRUCTION, QUESTIONS, phenotype_context
    out = tmp_path_factory.mktemp("tasks3")
    for task in ("phenotype", "diagnosis", "treatment"):
        (out / task).mkdir()
        for split in ("train", "test"):
            recs = []
            for i in range(4):
                if task == "phenotype":
                    sent, etype, resp = EXAMPLES["phenotype"][i]
                    recs.append({"id": f"{split}-p{i}", "patient_id": f"{split}{i}", "instruction": INSTRUCTION,
                                 "context": phenotype_context(sent, QUESTIONS[etype]), "response": resp,
                                 "entity_type": etype, "sentence": sent})
                else:
                    recs.append({"id": f"{split}-{task}{i}", "patient_id": f"{split}{i}", "instruction": "Generate.",
                                 "context": f"1) Reason for visit: visit {i}", "response": EXAMPLES[task]})
            (out / task / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return out


def test_eval_compare_two_models_and_baselines_writes_every_table_and_figure_1(
        three_tasks, tiny_model_dir, lively_model_dir, tmp_path):
    out = tmp_path / "cmp"
    args = ["eval", "compare", "--tasks-dir", str(three_tasks), "--out", str(out),
            "--model", f"tiny={tiny_model_dir}", "--model", f"lively={lively_model_dir}",
            "--baseline", "rules", "--baseline", "majority", "--max-new-tokens", "3", "--batch-size", "4",
            "--n-boot", "50", "--pair", "lively,tiny"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    for name in ("tiny", "lively"):   # progress per (model, task) on stderr
        assert all(f"{name} {task}: 4/4 (100%)" in res.stderr for task in ("phenotype", "diagnosis", "treatment"))
    for stem in ("table2_diagnosis", "table3_treatment", "table4_phenotype", "table7_cost", "table7_cost_detail",
                 "table_mean_over_tasks", "table_phenotype_by_question", "table_paired"):
        assert (out / f"{stem}.csv").stat().st_size > 0, stem
    md = (out / "tables.md").read_text()
    assert "Table 2: diagnosis" in md and "Table 4: phenotype" in md and "Table 7" in md
    phen = {r["model"]: r for r in csv.DictReader(open(out / "table4_phenotype.csv"))}
    assert set(phen) == {"tiny", "lively", "rules", "majority"}
    assert phen["majority"]["n"] == "4" and phen["tiny"]["average F1 95% CI"].startswith("[")
    dx = {r["model"] for r in csv.DictReader(open(out / "table2_diagnosis.csv"))}
    assert dx == {"tiny", "lively", "majority"}                  # the rules baseline answers phenotype only
    # the majority baseline on diagnosis answers the one training answer, which is every test answer
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["majority"]["diagnosis"]["scores"]["exact_match"]["f1"] == 100.0
    assert results["floor"] == "majority" and set(results["mean_over_tasks"]) >= {"tiny", "lively", "majority"}
    by_q = list(csv.DictReader(open(out / "table_phenotype_by_question.csv")))
    assert {r["entity type"] for r in by_q} == {"tumor_laterality", "tumor_size"}
    assert {r["question"] for r in by_q} == {"Q1", "Q5"}
    paired = list(csv.DictReader(open(out / "table_paired.csv")))
    assert [(r["A"], r["B"], r["task"]) for r in paired] == [("lively", "tiny", t)
                                                            for t in ("diagnosis", "treatment", "phenotype")]
    assert len((out / "scores" / "tiny" / "phenotype.jsonl").read_text().splitlines()) == 4
    assert (out / "average_f1.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_compare_refuses_a_misspelt_baseline_before_generating(three_tasks, tmp_path):
    res = CliRunner().invoke(app, ["eval", "compare", "--tasks-dir", str(three_tasks), "--out", str(tmp_path / "o"),
                                   "--baseline", "majorty"])
    assert res.exit_code != 0 and "Did you mean 'majority'" in str(res.exception)
    assert not (tmp_path / "o" / "predictions").exists()


def test_a_drawn_slice_covers_the_split_and_is_the_same_for_every_system():
    from cancerllm.evaluate.predictions import draw_records
    rows = [{"id": str(i)} for i in range(100)]
    a, b = draw_records(rows, 10, seed=0, key="phenotype"), draw_records(rows, 10, seed=0, key="phenotype")
    assert a == b and len(a) == 10 and [int(r["id"]) for r in a] == sorted(int(r["id"]) for r in a)
    assert max(int(r["id"]) for r in a) > 20                              # not the first ten
    assert draw_records(rows, 10, sample="first") == rows[:10]
    assert draw_records(rows, 500) == rows and draw_records(rows, None) == rows
    with pytest.raises(ConfigError):
        draw_records(rows, 10, sample="last")


def test_eval_compare_decodes_with_beams_when_asked_and_says_so(three_tasks, lively_model_dir, tmp_path):
    out = tmp_path / "beams"
    res = CliRunner().invoke(app, ["eval", "compare", "--tasks-dir", str(three_tasks), "--out", str(out),
                                   "--model", f"lively={lively_model_dir}", "--task", "diagnosis",
                                   "--max-new-tokens", "3", "--batch-size", "2", "--n-boot", "0",
                                   "--num-beams", "2"])
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "predictions" / "lively" / "diagnosis.stats.json").read_text())
    assert stats["num_beams"] == 2 and stats["n_generated"] == 4
    assert json.loads((out / "results.json").read_text())["config"]["num_beams"] == 2
