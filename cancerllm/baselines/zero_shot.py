"""Zero-shot baseline: ask a generative LM each schema question, score the allowed answers.

For every report and field the model sees the one prompt format
(`cancerllm.tasks.prompts.PromptFormat`: the model's chat template when it has one) with a
question that lists the field's allowed labels and the report as context. Instead of free
generation, each allowed label is scored as the answer (sum of token log-probabilities of
the label plus the end-of-answer token, the
lm-evaluation-harness "loglikelihood" choice), and the best one wins: the answer is a
schema label by construction, which is how the paper's comparison with zero-shot LLMs is
fair to schema adherence. Output format = `MultiTaskHeads.predict` ({field: {"label",
"probs"}}, probs = softmax over the label scores), so the same scorer evaluates both.
An empty report, or scores that are not finite, give NR; free text from elsewhere (an
API model's reply) maps to a label with `parse_label`, anything unrecognised -> NR.

Expected quality: with the tiny default model this is near chance (it never saw a
question-answer pair); it is a stand-in for prompting a large instruction model
(e.g. Llama-3-8B-Instruct: pass its local folder). Cost: one forward pass per
(report, field, label); candidates share a batch, so batch_size counts sequences.
"""

from __future__ import annotations

import os
import re

import torch

from cancerllm.tasks.prompts import PromptFormat
from cancerllm.schema.staging import FIELDS, FINE, NR

# How each label is written in the question and the answer (NR reads as words).
DISPLAY = {NR: "not reported"}

QUESTIONS = {
    "pT": "What is the pathologic primary tumour category (pT, AJCC 8th edition) of this breast pathology report?",
    "pN": "What is the pathologic regional lymph node category (pN, AJCC 8th edition) of this report?",
    "M": "What is the distant metastasis category (M) stated in this report?",
    "grade": "What is the Nottingham histologic grade of the invasive carcinoma in this report?",
    "ER": "What is the estrogen receptor (ER) status in this report?",
    "PR": "What is the progesterone receptor (PR) status in this report?",
    "HER2": "What is the final HER2 status in this report?",
}


def display(label: str) -> str:
    return DISPLAY.get(label, label)


def field_question(field: str) -> str:
    """The instruction for one field: the question and the allowed answers, verbatim."""
    options = ", ".join(display(x) for x in FINE[field])
    return (f"{QUESTIONS[field]} Answer with exactly one of: {options}. "
            f"Answer \"{display(NR)}\" if the report does not state it.")


_NR_WORDS = {"nr", "not reported", "not stated", "unknown", "none", "not applicable", "n/a", "na", ""}


def parse_label(field: str, text: str | None) -> str:
    """A free-text answer -> the field's schema label; unrecognised or empty -> NR.

    Case-insensitive; a leading y/r/p/c TNM prefix is dropped ("pT1c", "ypN0" -> T1c, N0),
    grade accepts "grade 2"/"G2", receptors accept "pos"/"neg".
    """
    t = (text or "").strip().strip(".").strip()
    low = t.lower()
    if low in _NR_WORDS:
        return NR
    if field in ("pT", "pN", "M"):
        low = re.sub(r"^(?:y|r|a)?[pc]?(?=[tnm])", "", low)
    elif field == "grade":
        low = re.sub(r"^(?:nottingham\s+)?(?:grade|g)\s*", "", low)
    elif field in ("ER", "PR", "HER2"):
        low = {"pos": "positive", "+": "positive", "neg": "negative", "-": "negative"}.get(low, low)
    for label in FINE[field]:
        if low == label.lower() or low == display(label).lower():
            return label
    return NR


class ZeroShotStaging:
    """Constrained zero-shot classifier over the staging schema with a local causal LM."""

    def __init__(self, model_dir: str | os.PathLike, adapter_dir: str | os.PathLike | None = None,
                 fields: list[str] | None = None, device: str | None = None, dtype: str | None = None,
                 max_context_tokens: int = 768, reorder_sections: bool = True):
        from cancerllm.models.loading import load_causal_lm
        # Left padding: every sequence ends at the last position, so the answer tokens sit
        # in the last few positions and only those logits are computed (`logits_to_keep`).
        self.model, self.tokenizer = load_causal_lm(model_dir, adapter_dir, device=device, dtype=dtype,
                                                    padding_side="left")
        self.fields = list(fields or FIELDS)
        self.max_context_tokens = max_context_tokens
        self.reorder_sections = reorder_sections
        self.format = PromptFormat.for_tokenizer(self.tokenizer)
        self.candidates = {f: [self.format.answer_ids(display(x)) for x in FINE[f]] for f in self.fields}

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _context(self, text: str) -> str:
        """The report, reordered like the heads' input, cut to `max_context_tokens` tokens."""
        from cancerllm.data.sections import reorder_sections
        text = reorder_sections(text) if self.reorder_sections else text
        enc = self.tokenizer(text, add_special_tokens=False, truncation=True,
                             max_length=self.max_context_tokens, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        return text[: offsets[-1][1]] if offsets else ""

    def predict(self, texts: list[str], batch_size: int = 16) -> list[dict[str, dict]]:
        """One dict per text: {field: {"label", "probs": {label: probability}}}."""
        results = []
        for text in texts:
            context = self._context(text)
            row = {}
            for field in self.fields:
                if not context.strip():
                    row[field] = _output(FINE[field], None)
                    continue
                prompt = self.format.encode_prompt(field_question(field), context).ids
                row[field] = _output(FINE[field], self._score(prompt, self.candidates[field], batch_size))
            results.append(row)
        return results

    @torch.no_grad()
    def _score(self, prompt: list[int], candidates: list[list[int]], batch_size: int) -> list[float]:
        """Sum of log P(candidate tokens | prompt) for each candidate, batched."""
        device = next(self.model.parameters()).device
        scores: list[float] = []
        for start in range(0, len(candidates), batch_size):
            group = candidates[start:start + batch_size]
            batch = self.tokenizer.pad([{"input_ids": prompt + c} for c in group], padding=True,
                                       return_tensors="pt")
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            keep = max(len(c) for c in group) + 1
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=position_ids,
                                logits_to_keep=keep, use_cache=False).logits.float()
            logp = torch.log_softmax(logits, -1)  # [B, keep, V]; logits[:, j] predicts token at L-keep+j+1
            for row, cand in enumerate(group):
                n = len(cand)
                target = ids[row, -n:]
                scores.append(float(logp[row, keep - 1 - n: keep - 1].gather(-1, target[:, None]).sum()))
        return scores


def _output(labels: list[str], scores: list[float] | None) -> dict:
    if scores is None or not all(torch.isfinite(torch.tensor(scores))):
        return {"label": NR, "probs": {x: float(x == NR) for x in labels}}
    probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0).tolist()
    best = max(range(len(labels)), key=probs.__getitem__)
    return {"label": labels[best], "probs": dict(zip(labels, probs))}
