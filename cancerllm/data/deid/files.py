"""De-identify a file or folder of notes into one JSONL, streaming, with a counts-only report.

Each output line is the input record with its text de-identified, every other string
field de-identified the same way (same patient, same date shift: a `date` field moves
with the dates in the text), fields that name a person (`patient_name`, `provider`, ...)
replaced by [NAME] and their words removed from the text too, the `phi` field (the
synthetic corpus's list of planted identifiers) dropped, and a `deid` field with the
number of replacements by type. Ids and patient ids are kept as they are: they must
already be pseudonyms (they key the date shift and the patient split).

Malformed records are skipped and reported by file:line (never their content); the rest
are processed. The output appears only when complete (written to a temporary file, then
renamed), so a killed run leaves no partial file that looks finished.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from cancerllm.data.deid.core import Deidentifier
from cancerllm.errors import InputError
from cancerllm.io import AtomicJsonl, atomic_write_json
from cancerllm.runs import versions

DROP_FIELDS = frozenset({"phi"})
SECRET_ENV = "CANCERLLM_DEID_SECRET"
_NAME_FIELD = re.compile(r"name|provider|author|physician|clinician|attending|signer|signed_by|surgeon|"
                         r"pathologist|nurse|doctor|contact", re.I)


def _phonenumbers_version() -> dict[str, str]:
    import phonenumbers
    return {"phonenumbers": phonenumbers.__version__}


def _name_fields(meta: dict) -> tuple[str, ...]:
    return tuple(v for k, v in meta.items() if isinstance(v, str) and _NAME_FIELD.search(k))


def _clean_value(value: Any, deid: Deidentifier, key: str, names: tuple[str, ...], counts: Counter) -> Any:
    if isinstance(value, str):
        res = deid.deidentify(value, key, names)
        counts.update(res.counts)
        return res.text
    if isinstance(value, list):
        return [_clean_value(v, deid, key, names, counts) for v in value]
    if isinstance(value, dict):
        return {k: _clean_value(v, deid, key, names, counts) for k, v in value.items()}
    return value


def deidentify_record(doc, deid: Deidentifier, text_field: str = "text", id_field: str = "id",
                      patient_field: str | None = "patient_id") -> dict:
    """The output record for one `records.Document`."""
    key = str(doc.patient_id if doc.patient_id not in (None, "") else doc.id)
    names = _name_fields(doc.metadata)
    res = deid.deidentify(doc.text, key, names)
    # Names found in the text (behind "Patient:", a title ...) are removed from the other fields too.
    names += tuple({doc.text[s.start:s.end] for s in res.spans if s.type == "NAME"})
    counts: Counter = Counter(res.counts)
    out: dict[str, Any] = {id_field: doc.id}
    if patient_field and doc.patient_id is not None:
        out[patient_field] = doc.patient_id
    for k, v in doc.metadata.items():
        if k in DROP_FIELDS or k == "deid":
            continue
        if isinstance(v, str) and _NAME_FIELD.search(k) and v.strip():
            out[k] = "[NAME]"
            counts["NAME"] += 1
        else:
            out[k] = _clean_value(v, deid, key, names, counts)
    out[text_field] = res.text
    out["deid"] = dict(sorted(counts.items()))
    return out


def resolve_secret(date_shift_seed: str | None = None,
                   date_shift_seed_file: str | os.PathLike | None = None) -> tuple[str | None, str]:
    """(secret, where it came from): the option, else the file, else env `CANCERLLM_DEID_SECRET`.

    A file or the environment keeps the secret out of `ps` and shell history, where a
    command-line value shows. Giving both the option and a file is refused (which one
    would be meant?); an empty or missing file is refused rather than silently random.
    """
    if date_shift_seed is not None and date_shift_seed_file is not None:
        raise InputError("give the date-shift secret once: --date-shift-seed or --date-shift-seed-file, not both")
    if date_shift_seed is not None:
        return date_shift_seed, "option"
    if date_shift_seed_file is not None:
        path = Path(date_shift_seed_file)
        if not path.is_file():
            raise InputError(f"secret file {str(path)!r} does not exist")
        secret = path.read_text(encoding="utf-8").strip()
        if not secret:
            raise InputError(f"secret file {str(path)!r} is empty")
        return secret, "file"
    secret = (os.environ.get(SECRET_ENV) or "").strip()
    return (secret, "environment") if secret else (None, "random")


def deidentify(input: str | os.PathLike, out: str | os.PathLike, text_field: str = "text",
               date_shift_seed: str | None = None, report: str | os.PathLike | None = None,
               id_field: str = "id", patient_field: str | None = "patient_id",
               date_shift_seed_file: str | os.PathLike | None = None) -> dict:
    """De-identify `input` (file or folder: txt/CSV/TSV/JSONL/Parquet) into the JSONL `out`.

    The secret keying each patient's date shift is `date_shift_seed`, else the first line
    of `date_shift_seed_file`, else env `CANCERLLM_DEID_SECRET` (`resolve_secret`); with
    none a random one is drawn and forgotten, so dates shift consistently within this run
    only. Returns (and writes to `report` if given) counts only: records, replacements by
    type, skipped records as file:line reasons.
    """
    from cancerllm.data.readers import iter_documents
    date_shift_seed, secret_from = resolve_secret(date_shift_seed, date_shift_seed_file)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise InputError(f"{out}: is a folder; --output takes a .jsonl file")
    if Path(input).resolve() == out.resolve():
        raise InputError(f"{out}: output would overwrite the input")
    stream = iter_documents(input, text_field=text_field, id_field=id_field, patient_field=patient_field)
    deid = Deidentifier(date_shift_seed)
    totals: Counter = Counter()
    n_written = n_changed = 0
    with AtomicJsonl(out) as fh:  # private (0600) temp file, renamed when complete, deleted on failure
        for doc in stream:
            rec = deidentify_record(doc, deid, text_field, id_field, patient_field)
            fh.write(rec)
            totals.update(rec["deid"])
            n_written += 1
            n_changed += bool(rec["deid"])
    read = stream.report
    summary = {
        "input": str(input), "output": str(out), "records_read": read.n_read, "records_written": n_written,
        "records_with_replacements": n_changed, "replaced": dict(sorted(totals.items())),
        "date_shift": (f"keyed by the secret from the {secret_from}" if date_shift_seed is not None
                       else "random secret, this run only"),
        "max_shift_days": deid.max_shift_days, "dropped_fields": sorted(DROP_FIELDS),
        "n_skipped": read.n_skipped, "skipped": [str(e) for e in read.skipped][:1000],
        "file_errors": [str(e) for e in read.file_errors],
        "versions": {k: v for k, v in versions().items() if k in ("python", "cancerllm")} | _phonenumbers_version(),
    }
    if report is not None:
        atomic_write_json(report, summary)
    return summary
