"""The toolkit's prompt as a Jinja chat template, written into every exported tokenizer.

Servers that never import this package (vLLM, Ollama, LM Studio, TGI, llama.cpp) build a
prompt from the tokenizer's `chat_template`. An exported model must therefore carry one
that renders exactly what `PromptFormat` (tasks/prompts.py) trained it on:

- a base **with** a chat template (SmolLM2, Llama-3-Instruct ...) was trained on that
  template, so it is kept as it is (messages: system = the task instruction, user = the
  note; templates that refuse a system turn get "instruction\\n\\nnote" as one user turn,
  as `PromptFormat` does);
- a base **without** one (the tiny default, plain pre-trained models) was trained on the
  alpaca layout; `ALPACA_TEMPLATE` reproduces it: BOS (when the tokenizer adds one),
  "### Instruction:\\n" + system message + "\\n\\n### Context:\\n" + user message +
  "\\n\\n### Response:\\n", and an assistant message followed by EOS.

The alpaca template neutralises note headers as `tasks.neutralize` does for the ASCII
case (a line that begins, after spaces and tabs, with three or more "#" has the run cut to
"##"). Jinja has no regular expressions or Unicode tables, so the invisible-character and
look-alike cases (a zero-width space before "###", fullwidth "＃", line breaks other than
"\\n") are not neutralised by an external server: send it plain text, or use this
toolkit's `predict`/`serve`, which neutralise everything.

`PromptFormat.for_tokenizer` recognises `ALPACA_TEMPLATE` (by its marker comment) and keeps
the alpaca layout for it, so re-loading an exported model inside the toolkit changes
nothing.
"""

from __future__ import annotations

ALPACA_MARKER = "cancerllm alpaca prompt v1"

# The neutralising macro strips one line's leading spaces/tabs, and when what follows is a
# run of 3+ "#", rewrites the run as "##" (the leading blanks stay, as in neutralize_headers).
ALPACA_TEMPLATE = (
    "{#- " + ALPACA_MARKER + ": the alpaca layout the model was fine-tuned on "
    "(cancerllm.tasks.prompts) -#}\n"
    "{%- macro clean(text) -%}\n"
    "{%- for line in text.split('\\n') -%}\n"
    "{%- set body = line.lstrip(' \\t') -%}\n"
    "{%- if body.startswith('###') -%}"
    "{{ line[:line|length - body|length] }}##{{ body.lstrip('#') }}"
    "{%- else -%}{{ line }}{%- endif -%}\n"
    "{%- if not loop.last -%}{{ '\\n' }}{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- endmacro -%}\n"
    "{%- set ns = namespace(instruction='', prompt_open=false) -%}\n"
    "{{- bos_prefix -}}\n"
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'system' -%}{%- set ns.instruction = message['content'] -%}\n"
    "{%- elif message['role'] == 'user' -%}"
    "{{- '### Instruction:\\n' + clean(ns.instruction) + '\\n\\n### Context:\\n' + clean(message['content']) -}}"
    "{%- set ns.prompt_open = true -%}\n"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '\\n\\n### Response:\\n' + message['content'] + eos_token -}}"
    "{%- set ns.prompt_open = false -%}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt and ns.prompt_open -%}{{- '\\n\\n### Response:\\n' -}}{%- endif -%}"
)


def is_alpaca_template(template: str | None) -> bool:
    """True for the template `alpaca_template` writes (PromptFormat keeps the alpaca layout)."""
    return bool(template) and ALPACA_MARKER in template


def alpaca_template(tokenizer) -> str:
    """`ALPACA_TEMPLATE` for `tokenizer`: with its BOS text when it adds one to every input.

    The BOS is spelled in the template because servers tokenize a rendered chat prompt
    without adding special tokens (transformers' `apply_chat_template` does the same).
    """
    with_special = tokenizer("a")["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    adds_bos = tokenizer.bos_token is not None and len(with_special) > len(plain) \
        and with_special[0] == tokenizer.bos_token_id
    bos = "{{ bos_token }}" if adds_bos else ""
    return ALPACA_TEMPLATE.replace("{{- bos_prefix -}}", bos)


def ensure_chat_template(tokenizer) -> str:
    """Give `tokenizer` the chat template of the prompt it was trained with; returns its kind.

    "chat": it had a template (kept); "alpaca": `alpaca_template` was set. Call it right
    before `tokenizer.save_pretrained` of an adapter, a merged model or a heads model.
    """
    current = getattr(tokenizer, "chat_template", None)
    if current and not is_alpaca_template(current):
        return "chat"
    tokenizer.chat_template = alpaca_template(tokenizer)
    return "alpaca"
