"""Synthetic oncology corpus: clinic notes, pathology reports, phenotype sentences, planted PHI.

Entry point: `generate(out_dir, patients, seed)` (CLI: `cancerllm data synth`). The
modules follow the writing order: a case and its course are sampled (`case`, `course`),
then notes (`clinic_notes`, `note_history`, `note_plan`, `treatment_plan`, `labs`) and
reports (`pathology`, `path_sections`, `path_diagnosis`, `path_values`) are written from
them with every gold span recorded as it is written (`text`).
"""

from cancerllm.data.synth.generate import generate

__all__ = ["generate"]
