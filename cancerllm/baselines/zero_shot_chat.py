"""Zero-shot staging for an instruction-tuned model through its chat template (the real-data
report's `zero_shot.prompt: chat`): the report first, then one question per field whose
coarse options are scored with a shared KV cache."""

from __future__ import annotations

import copy

from cancerllm.baselines.zero_shot import ZeroShotStaging
from cancerllm.errors import ConfigError
from cancerllm.schema.staging import KEFELI_T_CLASSES, NR

ZS_OPTIONS = {"pT": KEFELI_T_CLASSES + [NR], "pN": ["N0", "N1", "N2", "N3", "NX", NR], "M": ["M0", "M1", NR],
              "grade": ["1", "2", "3", NR], "ER": ["positive", "negative", NR], "PR": ["positive", "negative", NR],
              "HER2": ["positive", "negative", "equivocal", NR]}
ZS_QUESTIONS = {
    "pT": "What is the pathologic primary tumor category (T, AJCC TNM) of this cancer?",
    "pN": "What is the pathologic regional lymph node category (N, AJCC TNM)?",
    "M": "What is the distant metastasis category (M, AJCC TNM)?",
    "grade": "What is the histologic grade?",
    "ER": "What is the estrogen receptor (ER) status?",
    "PR": "What is the progesterone receptor (PR) status?",
    "HER2": "What is the HER2 status?",
}


def _zs_option_text(label: str) -> str:
    return "not reported" if label == NR else label


def zs_question(field: str) -> str:
    options = ", ".join(_zs_option_text(x) for x in ZS_OPTIONS[field])
    return f"{ZS_QUESTIONS[field]} Answer with exactly one of: {options}."




class ChatZeroShot(ZeroShotStaging):
    """Zero-shot for an instruction-tuned model: its chat template, coarse options.

    The user turn is "Pathology report:\\n<report>\\n\\n<question>", so the report's
    keys and values are computed once per report (KV cache) and each field only adds
    its question and the options (label + end-of-turn token, scored by summed log
    probability, as in the parent class). Context: the parent's rule (sections
    reordered, cut to `max_context_tokens`).
    """

    def __init__(self, model_dir, fields, **kwargs):
        super().__init__(model_dir, fields=fields, **kwargs)
        tok = self.tokenizer
        if not getattr(tok, "chat_template", None):
            raise ConfigError(f"{model_dir}: zero_shot.prompt=chat needs a tokenizer with a chat template; "
                              "use zero_shot.prompt=template")
        rendered = tok.apply_chat_template([{"role": "user", "content": "\x00"}], tokenize=False,
                                           add_generation_prompt=True)
        self.head, self.tail = rendered.split("\x00")
        end = tok.convert_tokens_to_ids(tok.eos_token)
        self.options = {f: [self._ids(_zs_option_text(x)) + [end] for x in ZS_OPTIONS[f]] for f in fields}

    def predict_fields(self, text: str, fields: list[str]) -> dict[str, dict]:
        import torch
        context = self._context(text)
        device = next(self.model.parameters()).device
        prefix = self._ids(self.head + "Pathology report:\n" + context)
        row = {}
        with torch.no_grad():
            cache = self.model(input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values
            for f in fields:
                q = self._ids("\n\n" + zs_question(f) + self.tail)
                q_out = self.model(input_ids=torch.tensor([q], device=device), past_key_values=cache,
                                   use_cache=True)
                first = torch.log_softmax(q_out.logits[0, -1].float(), -1)
                cands = self.options[f]
                width = max(len(c) for c in cands)
                ids = torch.tensor([c + [c[-1]] * (width - len(c)) for c in cands], device=device)
                branch = copy.deepcopy(cache)
                branch.batch_repeat_interleave(len(cands))
                logp = torch.log_softmax(self.model(input_ids=ids, past_key_values=branch,
                                                    use_cache=True).logits.float(), -1)
                scores = [float(first[c[0]] + sum(logp[b, j - 1, c[j]] for j in range(1, len(c))))
                          for b, c in enumerate(cands)]
                cache.crop(-len(q))  # back to the report prefix
                probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0).tolist()
                best = max(range(len(scores)), key=scores.__getitem__)
                row[f] = {"label": ZS_OPTIONS[f][best], "probs": dict(zip(ZS_OPTIONS[f], probs))}
        return row
