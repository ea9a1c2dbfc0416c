import numpy as np
import pytest

from cancerllm.errors import InputError
from cancerllm.evaluate.scoring import bootstrap_ci, instance_average_f1, paired_bootstrap, score_records


def test_instance_average_f1_means_to_the_tasks_average_f1():
    refs = {"a": "left breast", "b": "right", "c": "Not relevant"}
    preds = {"a": "left breast", "b": "left", "c": "Not relevant"}
    scored = score_records(refs, preds)
    values = instance_average_f1(scored.per_instance)
    assert round(sum(values) / len(values), 2) == scored.aggregate["average_f1"]


def test_bootstrap_ci_holds_the_mean_and_is_reproducible():
    x = np.random.default_rng(0).random(300) * 100
    ci = bootstrap_ci(x, n_boot=500, seed=3)
    assert ci["ci_low"] < ci["mean"] < ci["ci_high"] and ci["ci_high"] - ci["ci_low"] < 10
    assert bootstrap_ci(x, n_boot=500, seed=3) == ci
    assert bootstrap_ci([50.0] * 10) ["ci_low"] == 50.0          # constant scores: a zero-width CI, no error


def test_paired_bootstrap_is_tighter_than_separate_intervals_on_shared_difficulty():
    rng = np.random.default_rng(1)
    difficulty = rng.random(400) * 100          # each instance's difficulty, shared by both systems
    a = difficulty + 2 + rng.normal(0, 1, 400)
    b = difficulty
    res = paired_bootstrap(a, b, n_boot=500)
    assert res["ci_low"] > 0 and res["ci_low"] < res["difference"] < res["ci_high"]
    assert abs(res["difference"] - float(np.mean(a - b))) < 0.01 and res["share_a_not_better"] == 0.0
    sa, sb = bootstrap_ci(a, 500), bootstrap_ci(b, 500)
    assert sa["ci_low"] < sb["ci_high"]          # separate CIs overlap; the paired one excludes 0
    flipped = paired_bootstrap(b, a, n_boot=500)
    assert flipped["difference"] == -res["difference"] and flipped["share_a_not_better"] == 1.0


def test_paired_bootstrap_aligns_mappings_by_id_and_refuses_mismatches():
    a = {"x": 1.0, "y": 0.0, "z": 1.0}
    b = {"z": 0.0, "x": 1.0, "y": 0.0}
    assert paired_bootstrap(a, b, n_boot=200)["difference"] == round(1 / 3, 2)
    with pytest.raises(InputError, match="no prediction|not in"):
        paired_bootstrap({"x": 1.0}, {"y": 1.0})
    with pytest.raises(InputError, match="equally long"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="not one of each"):
        paired_bootstrap({"x": 1.0}, [1.0])
