import pytest

from cancerllm.baselines.registry import baseline_names, fit_baseline, get_baseline
from cancerllm.errors import ConfigError

TRAIN = [{"id": "a", "response": "Not relevant", "entity_type": "tumor_size"},
         {"id": "b", "response": "Not relevant", "entity_type": "tumor_size"},
         {"id": "c", "response": "2 cm", "entity_type": "tumor_size"},
         {"id": "d", "response": "2 cm", "entity_type": "tumor_size"}]


def test_registered_baselines_answer_like_models():
    assert {"rules", "majority"} <= set(baseline_names())
    test = [{"id": "t1", "sentence": "Mass 3 cm.", "entity_type": "tumor_size"}]
    assert fit_baseline("rules", "phenotype", TRAIN)(test) == {"t1": "3 cm"}
    assert fit_baseline("majority", "diagnosis", TRAIN[:3])(test) == {"t1": "Not relevant"}


def test_a_typo_gets_a_did_you_mean_and_unsupported_tasks_are_refused():
    with pytest.raises(ConfigError, match="Did you mean 'rules'"):
        get_baseline("rule")
    with pytest.raises(ConfigError, match="does not answer task 'diagnosis'"):
        fit_baseline("rules", "diagnosis", TRAIN)
    with pytest.raises(ConfigError, match="train split is empty"):
        fit_baseline("majority", "phenotype", [])
