"""The shared truncation rule: keep the end of the context (the sections nearest the answer)."""

import pytest

from cancerllm.tasks.prompts import format_prompt
from cancerllm.tasks.truncation import shorten_context

CONTEXT = "\n".join([
    "1) Reason for visit: " + "follow up of the left breast carcinoma " * 6,
    "2) Treatment site: left breast",
    "7) Diagnosis: invasive ductal carcinoma of the left breast",
    "8) Assessment: stable disease on letrozole",
])


@pytest.fixture(scope="module")
def tok(tiny_tokenizer_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def _len(tok, ctx):
    return len(tok(format_prompt("Generate the plan.", ctx))["input_ids"])


def test_a_context_that_fits_is_untouched(tok):
    assert shorten_context(tok, "Generate the plan.", CONTEXT, _len(tok, CONTEXT)) == (CONTEXT, 0)


def test_whole_leading_sections_go_first_and_the_sections_nearest_the_answer_stay(tok):
    limit = _len(tok, CONTEXT) - 5
    ctx, cut = shorten_context(tok, "Generate the plan.", CONTEXT, limit)
    assert ctx == CONTEXT[CONTEXT.index("2) Treatment site"):] and cut > 0
    assert _len(tok, ctx) <= limit
    assert ctx.endswith("8) Assessment: stable disease on letrozole")


def test_inside_the_last_section_the_first_tokens_are_cut(tok):
    last = "8) Assessment: stable disease on letrozole"
    limit = _len(tok, last) - 3
    ctx, cut = shorten_context(tok, "Generate the plan.", CONTEXT, limit)
    assert last.endswith(ctx) and len(ctx) < len(last) and _len(tok, ctx) <= limit
    assert _len(tok, ctx) >= limit - 2            # as much as fits is kept


def test_the_phenotype_question_survives(tok):
    from cancerllm.tasks.phenotype import QUESTIONS, phenotype_context
    ctx = phenotype_context("ER positive " * 40 + "in the left breast.", QUESTIONS["tumor_laterality"])
    limit = len(tok(format_prompt("Answer.", "in the left breast., please identify the value of tumor "
                                              "laterality in the provided context."))["input_ids"])
    short, cut = shorten_context(tok, "Answer.", ctx, limit, prompt=format_prompt)
    assert cut > 0 and short.endswith("please identify the value of tumor laterality in the provided context.")


def test_no_room_for_any_context_is_none(tok):
    assert shorten_context(tok, "Generate the plan. " * 50, CONTEXT, 10) is None
