"""De-identification of notes, a stage before corpus building (docs/privacy.md).

    from cancerllm.data.deid import Deidentifier, deidentify, measure_recall
    Deidentifier(secret).deidentify(text, patient_key).text     # one text
    deidentify("notes.jsonl", "deid.jsonl", date_shift_seed=secret, report="report.json")
    measure_recall(synthetic_records)["overall"]["recall"]       # against planted `phi`

Modules: patterns (phones, e-mails, URLs, record numbers, addresses, ages), dates (find
and shift), names (contexts, lexicon, propagation), core (merge and replace), files
(streaming over the generic readers), recall (measurement on the synthetic corpus).
"""

from cancerllm.data.deid.core import Deidentifier, DeidText
from cancerllm.data.deid.files import deidentify, deidentify_record
from cancerllm.data.deid.recall import measure_recall

__all__ = ["Deidentifier", "DeidText", "deidentify", "deidentify_record", "measure_recall"]
