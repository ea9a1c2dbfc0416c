"""The one prompt format, shared by training, evaluation, inference and the baselines.

Training and inference must format a record identically, or the model is asked something
it never saw; so `PromptFormat` is the only place that turns (instruction, context[,
response]) into token ids, and one rule (`PromptFormat.for_tokenizer`) decides which
layout a model gets:

- **chat**, when the tokenizer has a chat template (SmolLM2, Llama-3-Instruct,
  Mistral-Instruct, Qwen ...): the instruction is the system turn and the context the user
  turn (templates that refuse a system turn get one user turn, "instruction\\n\\ncontext"),
  rendered by the tokenizer's own `apply_chat_template` with the generation prompt. The
  answer is the assistant turn followed by the template's end-of-turn text (e.g.
  `<|im_end|>`), so the model learns to stop there and generation stops at that token.
- **alpaca**, for bases without one (the tiny default, plain pre-trained models): the
  Dolly/Alpaca {instruction, context, response} layout the paper's records follow, the
  answer followed by the tokenizer's EOS token.

Note text is data, never structure:
- Every text piece (instruction, context, response) is tokenized with special-token
  parsing off (`split_special_tokens=True`): a literal `</s>`, `<|im_end|>` or `<|eot_id|>`
  in a note is spelled out as ordinary tokens and can never end a turn. Only the template's
  own text is tokenized with special tokens parsed.
- In the alpaca layout a run of three or more "#" that begins a line of the instruction or
  context (after spaces, tabs or Unicode spaces and format characters such as NBSP and
  zero-width space: `cancerllm.tasks.neutralize`) is cut to "##", so the prompt holds
  exactly one "### Instruction:", one "### Context:" and one "### Response:" header
  whatever the note says.

Truncation, one rule for training and evaluation (`tasks/truncation.py` says why): when a
prompt is over its token budget, tokens are cut from the context only (the template and
the instruction are kept whole): its *start* by default, so the end of the context
survives - where the phenotype question sits and where clinic notes keep their diagnosis
and assessment sections. Whole leading sections go first, then the first tokens of what
is left (`cut="end"` keeps the start instead, whole sections first: where a clinic note
holds its reason for visit and history, which is what a diagnosis is read from). Because the context is a separate token
segment, the cut is exact: no re-tokenization at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cancerllm.tasks.neutralize import neutralize_headers  # noqa: F401 - part of this module's API

IGNORE_INDEX = -100  # label value the HF causal-LM loss skips (the prompt's positions)
RESPONSE_MARKER = "### Response:\n"
CONTEXT_HEADER = "### Context:\n"
Template = Literal["auto", "chat", "alpaca"]
Cut = Literal["start", "end"]

_SENTINELS = ("\u27e6cancerllm-instruction\u27e7", "\u27e6cancerllm-context\u27e7", "\u27e6cancerllm-answer\u27e7")


def format_prompt(instruction: str, context: str) -> str:
    """The alpaca-layout prompt as text, up to (and including) the response marker."""
    return (f"### Instruction:\n{neutralize_headers(instruction)}\n\n"
            f"{CONTEXT_HEADER}{neutralize_headers(context)}\n\n{RESPONSE_MARKER}")


def clean_generation(text: str) -> str:
    """Cut a raw generation at the first sign the model went on past its answer."""
    for stop in ("\n### ", "### Instruction:", "### Context:"):
        idx = text.find(stop)
        if idx != -1:
            text = text[:idx]
    return text.strip()


@dataclass
class EncodedPrompt:
    """Token ids of one prompt, and whether its context was cut to fit."""

    ids: list[int]
    truncated: bool = False


@dataclass
class PromptFormat:
    """How one tokenizer turns (instruction, context[, response]) into token ids.

    Build it with `PromptFormat.for_tokenizer(tok)`; it holds the template's text pieces
    around the instruction and the context, the end-of-answer text, and the token ids that
    end an answer (`stop_ids`, for generation).
    """

    tokenizer: object
    kind: Literal["chat", "alpaca"]
    head: str             # template text before the instruction
    middle: str           # between instruction and context
    tail: str             # after the context, up to where the answer starts
    answer_end: str       # text after the answer (end-of-turn / EOS), tokenized with specials
    special_prefix: list[int] = field(default_factory=list)  # e.g. BOS, for the alpaca layout
    stop_ids: list[int] = field(default_factory=list)

    # ------------------------------------------------------------ construction

    @classmethod
    def for_tokenizer(cls, tokenizer, template: Template = "auto") -> PromptFormat:
        """The one rule: chat when the tokenizer has a chat template (or `template`='chat')."""
        cached = getattr(tokenizer, "_cancerllm_prompt_format", None)
        if cached is not None and template in ("auto", cached.kind):
            return cached
        from cancerllm.tasks.chat_template import is_alpaca_template
        chat_template = getattr(tokenizer, "chat_template", None)
        # An exported model carries the alpaca layout as a chat template (tasks/chat_template.py): still alpaca.
        has_chat = bool(chat_template) and not is_alpaca_template(chat_template)
        if template == "chat" and not has_chat:
            from cancerllm.errors import ConfigError
            raise ConfigError("prompt template 'chat' needs a tokenizer with a chat template")
        fmt = cls._chat(tokenizer) if (has_chat and template != "alpaca") else cls._alpaca(tokenizer)
        if template == "auto":
            try:
                tokenizer._cancerllm_prompt_format = fmt
            except AttributeError:  # a tokenizer object that refuses new attributes
                pass
        return fmt

    @classmethod
    def _alpaca(cls, tok) -> PromptFormat:
        eos = tok.eos_token or ""
        with_special = tok("a")["input_ids"]
        plain = tok("a", add_special_tokens=False)["input_ids"]
        prefix = with_special[:_find(with_special, plain)] if plain else []
        return cls(tok, "alpaca", "### Instruction:\n", "\n\n" + CONTEXT_HEADER, "\n\n" + RESPONSE_MARKER,
                   eos, list(prefix), _stop_ids(tok, eos))

    @classmethod
    def _chat(cls, tok) -> PromptFormat:
        s_ins, s_ctx, s_ans = _SENTINELS
        for messages in ([{"role": "system", "content": s_ins}, {"role": "user", "content": s_ctx}],
                         [{"role": "user", "content": f"{s_ins}\n\n{s_ctx}"}]):
            try:
                prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                full = tok.apply_chat_template(messages + [{"role": "assistant", "content": s_ans}],
                                               tokenize=False)
            except Exception:  # noqa: BLE001 - a template may raise on a system turn (jinja raise_exception)
                continue
            if prompt.count(s_ins) == 1 and prompt.count(s_ctx) == 1 and prompt.index(s_ins) < prompt.index(s_ctx):
                break
        else:
            from cancerllm.errors import ConfigError
            raise ConfigError("the tokenizer's chat template does not render a user turn; "
                              "use the alpaca prompt template")
        head, rest = prompt.split(s_ins)
        middle, tail = rest.split(s_ctx)
        answer_end = tok.eos_token or ""
        if s_ans in full:
            after = full.split(s_ans, 1)[1]
            answer_end = after.rstrip() or answer_end
        return cls(tok, "chat", head, middle, tail, answer_end, [], _stop_ids(tok, answer_end))

    # ------------------------------------------------------------ tokens

    def _text(self, text: str) -> list[int]:
        """Ids of note / answer text: special-token strings in it stay plain text."""
        if not text:
            return []
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def _template(self, text: str) -> list[int]:
        """Ids of the template's own text (special tokens parsed)."""
        if not text:
            return []
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _clean(self, text: str) -> str:
        return neutralize_headers(text) if self.kind == "alpaca" else text

    def segments(self, instruction: str, context: str) -> tuple[list[int], list[int], list[int]]:
        """(ids before the context, context ids, ids after the context up to the answer)."""
        before = (self.special_prefix + self._template(self.head) + self._text(self._clean(instruction))
                  + self._template(self.middle))
        return before, self._text(self._clean(context)), self._template(self.tail)

    def _section_token_starts(self, context: str) -> list[int]:
        """Token positions (in `_text(context)`) where a numbered section line begins."""
        from cancerllm.tasks.truncation import section_starts
        chars = section_starts(context)
        if not chars or not getattr(self.tokenizer, "is_fast", False):
            return []
        enc = self.tokenizer(self._clean(context), add_special_tokens=False, split_special_tokens=True,
                             return_offsets_mapping=True)
        starts, offsets = [], enc["offset_mapping"]
        for c in chars:
            k = next((i for i, (a, _) in enumerate(offsets) if a >= c), None)
            if k is not None and k > 0:
                starts.append(k)
        return starts

    def encode_prompt(self, instruction: str, context: str, max_tokens: int | None = None,
                      cut: Cut = "start") -> EncodedPrompt | None:
        """The prompt's ids, its context cut to fit `max_tokens` (see module doc).

        Cutting the start drops whole leading sections first (numbered lines "1) Reason for
        visit: ...", `tasks.truncation.section_starts`), then the first tokens of what is
        left. Cutting the end keeps the leading whole sections that fit (the first tokens
        when not even the first section does). None when even an empty context does not fit.
        """
        before, ctx, after = self.segments(instruction, context)
        if max_tokens is None or len(before) + len(ctx) + len(after) <= max_tokens:
            return EncodedPrompt(before + ctx + after)
        keep = max_tokens - len(before) - len(after)
        if keep < 0:
            return None
        starts = self._section_token_starts(context)
        if cut == "end":
            end = max((k for k in starts if 0 < k <= keep), default=keep)
            return EncodedPrompt(before + ctx[:end] + after, truncated=True)
        start = next((k for k in starts if len(ctx) - k <= keep), len(ctx) - keep)
        return EncodedPrompt(before + ctx[start:] + after, truncated=True)

    def answer_ids(self, response: str) -> list[int]:
        """The answer's ids as trained: response text + end-of-turn (or EOS)."""
        return self._text(response) + self._template(self.answer_end)

    def encode_example(self, instruction: str, context: str, response: str, max_length: int,
                       max_prompt_tokens: int | None = None, cut: Cut = "start") -> dict | None:
        """{input_ids, labels, truncated} for training, loss on the answer only.

        None when the answer alone does not fit `max_length` next to the template.
        """
        answer = self.answer_ids(response)
        budget = max_length - len(answer)
        if max_prompt_tokens is not None:
            budget = min(budget, max_prompt_tokens)
        prompt = self.encode_prompt(instruction, context, budget, cut)
        if prompt is None:
            return None
        return {"input_ids": prompt.ids + answer, "labels": [IGNORE_INDEX] * len(prompt.ids) + answer,
                "truncated": prompt.truncated}

    def render(self, instruction: str, context: str) -> str:
        """The prompt as text (for people and for servers that take text, not ids)."""
        return self.head + self._clean(instruction) + self.middle + self._clean(context) + self.tail

    def clean(self, generated: str) -> str:
        """A decoded answer without template residue."""
        if self.kind == "alpaca":
            return clean_generation(generated)
        end = self.answer_end.strip()
        if end and end in generated:
            generated = generated.split(end, 1)[0]
        return generated.strip()


def _find(haystack: list[int], needle: list[int]) -> int:
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i:i + len(needle)] == needle:
            return i
    return 0


def _stop_ids(tok, answer_end: str) -> list[int]:
    """EOS plus every special token in the end-of-answer text."""
    ids = set()
    if tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    special = set(getattr(tok, "all_special_ids", []) or [])
    special.update(getattr(tok, "added_tokens_decoder", {}) or {})
    if answer_end:
        ids.update(i for i in tok(answer_end, add_special_tokens=False)["input_ids"] if i in special)
    return sorted(ids)
