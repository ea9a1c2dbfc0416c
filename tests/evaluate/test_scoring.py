"""Scorer: hand-computed values for the reference mode (metrics.md) and library cross-checks."""

import json
import math
import random

import nltk
import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import ConfigError, InputError, RecordError
from cancerllm.evaluate.normalize import reference_tokens, standard_tokens, stem
from cancerllm.evaluate.scoring import (METRICS, score_files, score_instance, score_records)

TINY, SMALL, B2 = 1e-15, 1e-9, 1.2**2


def coco_bleu2_by_hand(m1, g1, m2, g2, c, r):
    """pycocoevalcap bleu_scorer.compute_score, k = 2, written out from its source."""
    bleu = 1.0
    bleu *= (m1 + TINY) / (g1 + SMALL)
    bleu *= (m2 + TINY) / (g2 + SMALL)
    score = bleu ** (1.0 / 2)
    ratio = (c + TINY) / (r + SMALL)
    return score * math.exp(1 - 1 / ratio) if ratio < 1 else score


def f_beta(p, r):
    return (1 + B2) * p * r / (r + B2 * p)


def f1s(scores):
    return {m: scores[m][2] for m in METRICS}


# ------------------------------------------------------------------ normalisation
def test_nltk_porter_stemmer_is_pinned():
    assert nltk.__version__ == "3.10.4"
    words = {"tumors": "tumor", "tumor": "tumor", "metastatic": "metastat",
             "metastases": "metastas", "negative": "neg", "positive": "posit",
             "receptors": "receptor", "lobectomy": "lobectomi", "invasive": "invas",
             "carcinoma": "carcinoma", "ductal": "ductal", "her2neu": "her2neu"}
    assert {w: stem(w) for w in words} == words
    assert stem("er") == "er" and stem("is") == "is" and stem("as") == "as"  # length <= 2


@pytest.mark.parametrize("text, tokens", [
    ("her2/neu", ("her2neu",)),
    ("t4n2mo-1a", ("t4n2mo1a",)),
    ("pr,er", ("prer",)),
    ("pr, er", ("pr", "er")),
    ("  Left \t BREAST.\n", ("left", "breast")),
    ("Tumors", ("tumor",)),
    ("...", ()),
    ("", ()),
])
def test_reference_normalisation(text, tokens):
    assert reference_tokens(text) == tokens


# ------------------------------------------------------------------ reference mode
def test_one_word_answer_bleu_is_about_a_thousandth():
    s = score_instance("left", "left")
    assert s["exact_match"] == (1.0, 1.0, 1.0)
    assert s["rouge_l"] == (1.0, 1.0, 1.0) and s["rouge1_set"] == (1.0, 1.0, 1.0)
    # no bigrams: (0 + 1e-15) / (0 + 1e-9) = 1e-6, square root 1e-3
    assert s["bleu2"][2] == coco_bleu2_by_hand(1, 1, 0, 0, 1, 1)
    assert s["bleu2"][2] == pytest.approx(0.001, rel=1e-6)


def test_reordered_list():
    s = score_instance("er, pr, her2", "pr, her2, er")
    assert s["exact_match"][2] == 0.0
    # candidate pr her2 er vs reference er pr her2: 3/3 unigrams, 1/2 bigrams (pr her2)
    assert s["bleu2"][2] == coco_bleu2_by_hand(3, 3, 1, 2, 3, 3)
    assert s["bleu2"][2] == pytest.approx(math.sqrt(0.5), rel=1e-8)
    # LCS "pr her2" = 2: P = R = 2/3, F(beta 1.2) = 2/3
    assert s["rouge_l"][2] == pytest.approx(2 / 3)
    assert s["rouge1_set"][2] == pytest.approx(1.0)


def test_punctuation_is_deleted_without_a_space():
    assert score_instance("her2/neu", "her2neu")["exact_match"][2] == 1.0
    s = score_instance("pr, er", "pr,er")  # "prer" is one token, "pr er" two
    assert f1s(s)["exact_match"] == 0.0 and f1s(s)["rouge_l"] == 0.0


def test_stemming_makes_plural_match():
    s = score_instance("tumors", "tumor")
    assert s["exact_match"][2] == 1.0 and s["rouge_l"][2] == 1.0


def test_shorter_prediction_pays_the_brevity_penalty():
    s = score_instance("metastatic lung cancer with brain mets", "metastatic lung cancer")
    assert s["bleu2"][2] == coco_bleu2_by_hand(3, 3, 2, 2, 3, 6)
    assert s["bleu2"][2] == pytest.approx(math.exp(-1), rel=1e-6)
    assert s["rouge_l"][2] == pytest.approx(f_beta(1.0, 0.5))  # 1.22 / 1.94
    assert s["rouge_l"][2] == pytest.approx(0.6288659794)


def test_clipped_counts_and_set_variant_differ():
    s = score_instance("iib, mo", "iib iib iib")
    # unigrams: min(3, 1) = 1 of 3; bigrams (iib iib) x2 vs (iib mo): 0 of 2; c > r, no BP
    assert s["bleu2"][2] == coco_bleu2_by_hand(1, 3, 0, 2, 3, 2)
    assert s["rouge_l"][2] == pytest.approx(f_beta(1 / 3, 1 / 2))  # LCS 1
    assert s["rouge1_set"][2] == pytest.approx(f_beta(1.0, 1 / 2))  # {iib} vs {iib, mo}


@pytest.mark.parametrize("ref, pred, value", [
    ("", "", 1.0), ("  ", "...", 1.0), ("left", "", 0.0), ("", "left", 0.0), ("?!", "left", 0.0)])
def test_empty_strings(ref, pred, value):
    for mode in ("reference", "standard"):
        assert all(v == (value, value, value) for v in score_instance(ref, pred, mode).values())


def test_single_answer_instances_have_p_equal_r_equal_f1():
    rng = random.Random(0)
    words = ["left", "breast", "er", "pr", "her2", "negative", "grade", "2", "ductal", "carcinoma"]
    for _ in range(200):
        ref = " ".join(rng.choices(words, k=rng.randint(1, 6)))
        pred = " ".join(rng.choices(words, k=rng.randint(1, 6)))
        for p, r, f1 in score_instance(ref, pred).values():
            assert p == r == f1


def test_rouge_l_lcs_matches_dynamic_programming():
    def lcs(a, b):
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
        return table[-1][-1]

    rng = random.Random(1)
    for _ in range(200):
        ref = rng.choices("abcdef", k=rng.randint(1, 12))
        pred = rng.choices("abcdef", k=rng.randint(1, 12))
        n = lcs(ref, pred)
        expected = f_beta(n / len(pred), n / len(ref)) if n else 0.0
        assert score_instance(" ".join(ref), " ".join(pred))["rouge_l"][2] == pytest.approx(expected)


def test_unknown_mode_suggests_the_near_one():
    with pytest.raises(ConfigError, match="did you mean 'standard'"):
        score_instance("a", "b", mode="standrd")


# ------------------------------------------------------------------- aggregates
REFS = {"a": "left", "b": "er, pr, her2", "c": "lung cancer"}
PREDS = {"a": "left", "b": "pr, her2, er", "c": "breast cancer"}


def test_aggregates_are_means_times_100_two_decimals():
    result = score_records(REFS, PREDS)
    agg = result.aggregate
    em = (1 + 0 + 0) / 3
    bleu = (coco_bleu2_by_hand(1, 1, 0, 0, 1, 1) + coco_bleu2_by_hand(3, 3, 1, 2, 3, 3)
            + coco_bleu2_by_hand(1, 2, 0, 1, 2, 2)) / 3
    rouge = (1 + 2 / 3 + f_beta(0.5, 0.5)) / 3
    assert agg["exact_match"] == {"precision": 33.33, "recall": 33.33, "f1": 33.33}
    assert agg["bleu2"]["f1"] == round(100 * bleu, 2) == 23.60
    assert agg["rouge_l"]["f1"] == round(100 * rouge, 2) == 72.22
    assert agg["average_f1"] == round(100 * (em + bleu + rouge) / 3, 2) == 43.05
    assert agg["n"] == 3 and agg["mode"] == "reference"


def test_aggregate_does_not_depend_on_instance_order():
    items = list(REFS.items()) * 50
    rng = random.Random(3)
    refs = {f"{k}{i}": v for i, (k, v) in enumerate(items)}
    preds = {f"{k}{i}": PREDS[k] for i, (k, v) in enumerate(items)}
    keys = list(refs)
    rng.shuffle(keys)
    shuffled = {k: refs[k] for k in keys}
    assert score_records(refs, preds).aggregate == score_records(shuffled, preds).aggregate


def test_per_instance_shows_scores_and_tokens():
    rec = score_records(REFS, PREDS).per_instance[1]
    assert rec["id"] == "b"
    assert rec["reference_tokens"] == ["er", "pr", "her2"]
    assert rec["prediction_tokens"] == ["pr", "her2", "er"]
    assert set(rec["rouge_l"]) == {"precision", "recall", "f1"}
    assert all(m in rec for m in METRICS)


# ------------------------------------------------------------------- file inputs
def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_files_joins_on_id_and_keeps_task(tmp_path):
    refs = _write(tmp_path / "r.jsonl", [{"id": k, "response": v, "task": "phenotype"}
                                         for k, v in REFS.items()])
    preds = _write(tmp_path / "p.jsonl", [{"id": k, "prediction": v}
                                          for k, v in reversed(PREDS.items())])
    result = score_files(preds, refs)
    assert result.aggregate == score_records(REFS, PREDS).aggregate
    assert [r["id"] for r in result.per_instance] == ["a", "b", "c"]
    assert result.per_instance[0]["task"] == "phenotype"


def test_missing_extra_and_duplicate_ids_are_listed(tmp_path):
    refs = _write(tmp_path / "r.jsonl", [{"id": f"r{i}", "response": "x"} for i in range(25)]
                  + [{"id": "r0", "response": "x"}])
    preds = _write(tmp_path / "p.jsonl", [{"id": "r0", "prediction": "x"},
                                          {"id": "zz", "prediction": "x"}])
    with pytest.raises(InputError) as err:
        score_files(preds, refs)
    msg = str(err.value)
    assert "1 duplicate id(s) in references r.jsonl: r0" in msg
    assert "24 id(s) of references r.jsonl have no prediction" in msg
    assert "r1, r2" in msg and "r21" not in msg and "(+4 more)" in msg  # first 20 + count
    assert "1 id(s) of predictions p.jsonl are not in references r.jsonl: zz" in msg


def test_score_records_lists_missing_ids():
    with pytest.raises(InputError, match="1 id\\(s\\) of references have no prediction.*: b"):
        score_records({"a": "x", "b": "y"}, {"a": "x"})


@pytest.mark.parametrize("line, reason", [
    ("{not json", "not valid JSON"),
    ('["a"]', "not a JSON object"),
    ('{"response": "x"}', "no 'id' field"),
    ('{"id": "a", "response": null}', "field 'response' is a NoneType"),
    ('{"id": "a"}', "field 'response' is missing"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, reason):
    refs = tmp_path / "r.jsonl"
    refs.write_text('{"id": "ok", "response": "secret note text"}\n\n' + line + "\n")
    preds = _write(tmp_path / "p.jsonl", [{"id": "ok", "prediction": "x"}])
    with pytest.raises(RecordError) as err:
        score_files(preds, refs)
    assert err.value.line == 3 and reason in str(err.value) and "r.jsonl:3" in str(err.value)
    assert "secret" not in str(err.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        score_files(tmp_path / "nope.jsonl", tmp_path / "nope2.jsonl")


# ------------------------------------------------------------------- standard mode
PAIRS = [("left", "left"), ("er, pr, her2", "pr, her2, er"),
         ("metastatic lung cancer with brain mets", "metastatic lung cancer"),
         ("Invasive ductal carcinoma, grade 3", "invasive ductal carcinomas grade 2"),
         ("pr, er", "pr,er"), ("1:00", "it is not a relevant question")]


@pytest.mark.parametrize("ref, pred", PAIRS)
def test_standard_mode_matches_sacrebleu_and_rouge_score(ref, pred):
    import sacrebleu
    from rouge_score.rouge_scorer import RougeScorer

    s = score_instance(ref, pred, mode="standard")
    rt, pt = " ".join(standard_tokens(ref)), " ".join(standard_tokens(pred))
    bleu2 = sacrebleu.metrics.BLEU(tokenize="none", max_ngram_order=2, effective_order=True)
    assert s["bleu2"][2] == pytest.approx(min(1.0, bleu2.sentence_score(pt, [rt]).score / 100))
    rouge = RougeScorer(["rougeL"], use_stemmer=True).score(ref, pred)["rougeL"]  # raw strings
    assert s["rouge_l"] == pytest.approx((rouge.precision, rouge.recall, rouge.fmeasure))


def test_standard_mode_hand_values_and_differences_from_reference():
    # one word: effective order uses unigrams only, so a right answer scores 1 (not 0.001)
    assert score_instance("left", "left", "standard")["bleu2"][2] == 1.0
    # punctuation separates tokens: "pr,er" and "pr, er" agree
    assert score_instance("pr, er", "pr,er", "standard")["exact_match"][2] == 1.0
    # ROUGE-L with beta = 1 and its own precision and recall: P 1, R 1/2, F 2/3
    s = score_instance("metastatic lung cancer with brain mets", "metastatic lung cancer", "standard")
    assert s["rouge_l"] == pytest.approx((1.0, 0.5, 2 / 3))
    assert s["bleu2"][2] == pytest.approx(math.exp(-1))  # all n-grams match, BP e^(1 - 6/3)


def test_standard_bleu_agrees_with_nltk_when_no_smoothing_is_needed():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    ref, pred = "invasive ductal carcinoma of the left breast", "invasive ductal carcinoma left breast"
    rt, pt = list(standard_tokens(ref)), list(standard_tokens(pred))
    expected = sentence_bleu([rt], pt, weights=(0.5, 0.5),
                             smoothing_function=SmoothingFunction().method1)
    assert score_instance(ref, pred, "standard")["bleu2"][2] == pytest.approx(expected)


# ------------------------------------------------------------------------------ CLI
def test_cli_score_writes_metrics_and_per_instance(tmp_path):
    refs = _write(tmp_path / "r.jsonl", [{"id": k, "response": v} for k, v in REFS.items()])
    preds = _write(tmp_path / "p.jsonl", [{"id": k, "prediction": v} for k, v in PREDS.items()])
    out, per = tmp_path / "m.json", tmp_path / "per.jsonl"
    res = CliRunner().invoke(app, ["eval", "score", "--predictions", str(preds), "--references",
                                   str(refs), "--per-instance", str(per), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["average_f1"] == 43.05
    assert len(per.read_text().splitlines()) == 3
    assert "| exact_match | 33.33 | 33.33 | 33.33 |" in res.output
