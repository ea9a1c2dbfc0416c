import csv

import pytest

from cancerllm.errors import ConfigError
from cancerllm.evaluate.compare import parse_model_refs, write_comparison


def _agg(v):
    return {"exact_match": {"precision": v, "recall": v, "f1": v},
            "bleu2": {"precision": v + 1, "recall": v + 1, "f1": v + 1},
            "rouge_l": {"precision": v + 2, "recall": v + 2, "f1": v + 2},
            "average_f1": v + 1, "n": 10}


def test_write_comparison_tables_and_chart(tmp_path):
    results = {"a": {"diagnosis": {"scores": _agg(10), "generation": {"wall_seconds": 2.0, "n_instances": 10}}},
               "b": {"diagnosis": {"scores": _agg(20)}, "treatment": {"scores": _agg(30)}}}
    paths = write_comparison(results, tmp_path, {"seed": 0})
    rows = list(csv.DictReader(open(paths["diagnosis.csv"])))
    assert [r["model"] for r in rows] == ["a", "b"]
    assert rows[1]["EM F1"] == "20.00" and rows[1]["average F1"] == "21.00"
    md = paths["tables.md"].read_text()
    assert "### treatment" in md and "| b | 30.00 |" in md
    png = paths["average_f1.png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_parse_model_refs():
    refs = parse_model_refs(["it=runs/base+runs/it", "plain=models/x"])
    assert (refs[0].model_dir, refs[0].adapter_dir) == ("runs/base", "runs/it")
    assert refs[1].adapter_dir is None
    with pytest.raises(ConfigError):
        parse_model_refs(["nonsense"])


def test_chart_has_no_bar_for_a_task_a_model_was_not_evaluated_on(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from cancerllm.evaluate.compare import plot_average_f1
    heights = {}
    real_bar = Axes.bar

    def bar(self, x, height, *args, label=None, **kwargs):
        heights[label] = list(height)
        return real_bar(self, x, height, *args, label=label, **kwargs)

    monkeypatch.setattr(Axes, "bar", bar)
    score = lambda v: {"scores": {"average_f1": v}}  # noqa: E731
    results = {"llm": {"diagnosis": score(3.0), "phenotype": score(80.0)}, "rules": {"phenotype": score(95.0)}}
    assert plot_average_f1(results, tmp_path / "c.png").stat().st_size > 0
    assert heights == {"llm": [3.0, 80.0], "rules": [95.0]}
