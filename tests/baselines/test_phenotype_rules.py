import pytest

from cancerllm.baselines.phenotype_rules import PhenotypeRules
from cancerllm.tasks.phenotype import NOT_RELEVANT

RULES = PhenotypeRules.from_training([
    {"entity_type": "histological_type", "response": "invasive ductal carcinoma"},
    {"entity_type": "histological_type", "response": "invasive ductal carcinoma"},
    {"entity_type": "histological_type", "response": "IDC, adenocarcinoma"},
    {"entity_type": "histological_type", "response": "IDC"},
    {"entity_type": "histological_type", "response": "adenocarcinoma"},
    {"entity_type": "tumor_site", "response": "upper outer quadrant"},
    {"entity_type": "tumor_site", "response": "upper outer quadrant"},
    {"entity_type": "tumor_site", "response": "rare site"},            # seen once: not learned
    {"entity_type": "tumor_site", "response": NOT_RELEVANT},
])


@pytest.mark.parametrize("sentence,etype,expected", [
    ("Left breast mass measuring 2.3 x 1.1 cm.", "tumor_size", "2.3 x 1.1 cm"),
    ("Tumor 23 mm, margins 4mm.", "tumor_size", "23 mm, 4mm"),
    ("Clinical stage IIA, pT2 N1a M0.", "cancer_stage", "stage IIA, pT2 N1a M0"),
    ("ypT1c ypN0(i+) after therapy", "cancer_stage", "ypT1c ypN0(i+)"),
    ("Nottingham grade 2 of 3, moderately differentiated.", "cancer_grade", "grade 2 of 3, moderately differentiated"),
    ("ER and PR positive, HER2 negative.", "hormone_receptor_type", "ER, PR, HER2"),
    ("ER and PR positive, HER2 negative.", "hormone_receptor_status", "positive, negative"),
    ("Tumor is ER+ PR- HER2-.", "hormone_receptor_status", "+, -, -"),   # repeats kept, as the gold answers
    ("ER positive, PR positive.", "hormone_receptor_status", "positive, positive"),
    ("Right upper lobe nodule.", "tumor_laterality", "Right"),
    ("Invasive ductal carcinoma in the upper outer quadrant.", "histological_type", "Invasive ductal carcinoma"),
    ("Invasive ductal carcinoma in the upper outer quadrant.", "tumor_site", "upper outer quadrant"),
    ("IDC with adenocarcinoma features", "histological_type", "IDC, adenocarcinoma"),
    ("Seen in a rare site.", "tumor_site", NOT_RELEVANT),
    ("Patient tolerated the procedure well.", "tumor_size", NOT_RELEVANT),
    ("Patient tolerated the procedure well.", "cancer_stage", NOT_RELEVANT),
    ("Performer of the test: Dr. Ridge", "hormone_receptor_type", NOT_RELEVANT),
])
def test_rules(sentence, etype, expected):
    assert RULES.answer(sentence, etype) == expected


def test_predict_format():
    preds = RULES.predict([{"id": "a-q1", "sentence": "Mass 2 cm.", "entity_type": "tumor_size"}])
    assert preds == [{"id": "a-q1", "task": "phenotype", "prediction": "2 cm", "model": "rules"}]
