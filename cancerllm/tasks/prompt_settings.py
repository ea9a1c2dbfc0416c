"""The prompt limits a model was fine-tuned with, saved beside its adapter and read back.

A recipe may shorten a task's prompt (`max_input_tokens`), choose which side of a long
context goes (`context_truncation`) and which note sections a task reads
(`context_sections`). A model evaluated or served with other inputs than it learnt from
is tested on a different task, so `train finetune` writes the choices to
`ADAPTER/cancerllm_prompt.json` and generation (`eval generate`, `eval compare`,
`predict`, `serve`) applies them for that adapter unless told otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE = "cancerllm_prompt.json"


@dataclass
class PromptSettings:
    max_input_tokens: dict[str, int] = field(default_factory=dict)
    context_truncation: dict[str, str] = field(default_factory=dict)
    context_sections: dict[str, list[str]] = field(default_factory=dict)

    def for_task(self, task: str) -> tuple[int | None, str, list[str] | None]:
        """(input-token limit or None, side cut, sections or None) for `task`."""
        return (self.max_input_tokens.get(task), self.context_truncation.get(task, "start"),
                self.context_sections.get(task))


def from_recipe(cfg, tasks: list[str]) -> PromptSettings:
    """The settings a `FinetuneConfig` trains `tasks` with."""
    return PromptSettings({t: n for t, n in cfg.max_input_tokens.items() if t in tasks},
                          {t: cfg.truncation(t) for t in tasks},
                          {t: list(s) for t, s in cfg.context_sections.items() if t in tasks})


def write_prompt_settings(adapter_dir: str | os.PathLike, settings: PromptSettings) -> Path:
    from cancerllm.io import atomic_write_json
    path = Path(adapter_dir) / FILE
    atomic_write_json(path, asdict(settings))
    return path


def read_prompt_settings(adapter_dir: str | os.PathLike | None) -> PromptSettings | None:
    """The adapter's saved settings; None for no adapter or one trained before they were saved."""
    if adapter_dir is None:
        return None
    path = Path(adapter_dir) / FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return PromptSettings(**{k: data.get(k) or {} for k in ("max_input_tokens", "context_truncation",
                                                              "context_sections")})
