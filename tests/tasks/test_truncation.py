"""The shared truncation rule: keep the end of the context (the sections nearest the answer).

Applied by `PromptFormat.encode_prompt`, the encoder training and generation share."""

import pytest

from cancerllm.tasks.prompts import PromptFormat

CONTEXT = "\n".join([
    "1) Reason for visit: " + "follow up of the left breast carcinoma " * 6,
    "2) Treatment site: left breast",
    "7) Diagnosis: invasive ductal carcinoma of the left breast",
    "8) Assessment: stable disease on letrozole",
])
INS = "Generate the plan."


@pytest.fixture(scope="module")
def fmt(tiny_tokenizer_dir):
    from transformers import AutoTokenizer
    return PromptFormat.for_tokenizer(AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir)))


def _n(fmt, ctx):
    return len(fmt.encode_prompt(INS, ctx).ids)


def _text(fmt, enc):
    return fmt.tokenizer.decode(enc.ids)


def test_a_context_that_fits_is_untouched(fmt):
    enc = fmt.encode_prompt(INS, CONTEXT, _n(fmt, CONTEXT))
    assert not enc.truncated and enc.ids == fmt.encode_prompt(INS, CONTEXT).ids


def test_whole_leading_sections_go_first_and_the_sections_nearest_the_answer_stay(fmt):
    limit = _n(fmt, CONTEXT) - 5
    enc = fmt.encode_prompt(INS, CONTEXT, limit)
    text = _text(fmt, enc)
    assert enc.truncated and len(enc.ids) <= limit
    assert "Reason for visit" not in text and "2) Treatment site" in text      # a whole section went
    assert "8) Assessment: stable disease on letrozole" in text


def test_inside_the_last_section_the_first_tokens_are_cut(fmt):
    last = "8) Assessment: stable disease on letrozole"
    limit = _n(fmt, last) - 3
    enc = fmt.encode_prompt(INS, CONTEXT, limit)
    assert enc.truncated and len(enc.ids) == limit                              # as much as fits is kept
    assert "letrozole" in _text(fmt, enc) and "Diagnosis" not in _text(fmt, enc)


def test_training_cuts_the_same_way(fmt):
    limit = _n(fmt, CONTEXT) - 5
    ex = fmt.encode_example(INS, CONTEXT, "continue letrozole", 10_000, max_prompt_tokens=limit)
    assert ex["input_ids"][:len(ex["input_ids"]) - len(fmt.answer_ids("continue letrozole"))] == \
        fmt.encode_prompt(INS, CONTEXT, limit).ids


def test_the_phenotype_question_survives(fmt):
    from cancerllm.tasks.phenotype import QUESTIONS, phenotype_context
    ctx = phenotype_context("ER positive " * 40 + "in the left breast.", QUESTIONS["tumor_laterality"])
    question = "please identify the value of tumor laterality in the provided context."
    enc = fmt.encode_prompt("Answer.", ctx, _n(fmt, question) + 12)
    assert enc.truncated and question in _text(fmt, enc).replace(" .", ".")


def test_no_room_for_any_context_is_none(fmt):
    assert fmt.encode_prompt(INS * 50, CONTEXT, 10) is None


def test_cutting_the_end_keeps_the_whole_leading_sections_that_fit(fmt):
    first_two = "\n".join(CONTEXT.split("\n")[:2])
    limit = _n(fmt, first_two) + 3                                       # two sections and a bit
    enc = fmt.encode_prompt(INS, CONTEXT, limit, cut="end")
    text = _text(fmt, enc)
    assert enc.truncated and len(enc.ids) < limit                        # no half section of the third
    assert "Reason for visit" in text and "2) Treatment site: left breast" in text
    assert "Diagnosis" not in text and "Assessment" not in text


def test_cutting_the_end_inside_the_first_section_keeps_its_first_tokens(fmt):
    limit = _n(fmt, "") + 6
    enc = fmt.encode_prompt(INS, CONTEXT, limit, cut="end")
    assert enc.truncated and len(enc.ids) == limit and "Reason" in _text(fmt, enc)


def test_per_task_sides_in_the_recipe():
    from cancerllm.train.finetune import FinetuneConfig
    cfg = FinetuneConfig(context_truncation={"diagnosis": "end"})
    assert (cfg.truncation("diagnosis"), cfg.truncation("treatment")) == ("end", "start")
    assert FinetuneConfig(context_truncation="end").truncation("phenotype") == "end"


def test_generation_encodes_every_prompt_with_the_side_asked(fmt):
    from cancerllm.models.generation import encode_prompts
    limit = _n(fmt, "\n".join(CONTEXT.split("\n")[:2])) + 3
    prompts = [(INS, CONTEXT)] * 3                       # the second and third too, not only the first
    ids, cut = encode_prompts(fmt.tokenizer, prompts, limit, cut="end")
    assert cut == [0, 1, 2] and ids == [fmt.encode_prompt(INS, CONTEXT, limit, cut="end").ids] * 3


def test_a_recipe_names_the_sections_a_task_reads():
    from cancerllm.tasks.truncation import select_sections
    kept = select_sections(CONTEXT, ["reason for visit", "Assessment"])
    assert kept.startswith("1) Reason for visit:") and kept.endswith("8) Assessment: stable disease on letrozole")
    assert "Treatment site" not in kept and "Diagnosis" not in kept
    assert select_sections(CONTEXT, None) == CONTEXT and select_sections(CONTEXT, ["plan"]) == CONTEXT
    assert select_sections("no sections here", ["assessment"]) == "no sections here"


def test_training_and_generation_read_the_same_sections(fmt, tmp_path):
    """The recipe's sections reach the prompts of both (stats say which were kept)."""
    from cancerllm.train.finetune import FinetuneConfig, encode_split
    record = {"id": "a", "instruction": INS, "context": CONTEXT, "response": "continue letrozole"}
    cfg = FinetuneConfig(max_seq_length=10_000, context_sections={"treatment": ["assessment"]})
    ds, _ = encode_split(fmt.tokenizer, [record], cfg, None, None, sections=cfg.context_sections["treatment"])
    prompt = fmt.encode_prompt(INS, "8) Assessment: stable disease on letrozole").ids
    assert ds[0]["input_ids"][:len(prompt)] == prompt
