"""Write a synthetic oncology corpus folder (the format of docs/design.md).

Each patient gets an independent `random.Random` seeded from (seed, patient index), so a
seed always gives byte-identical files and a patient's records do not depend on how many
patients come before it. Records stream to temporary files that are renamed into place
only when complete, so an interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

from cancerllm.data.synth.case import Case, sample_case
from cancerllm.data.synth.clinic_notes import write_note
from cancerllm.data.synth.context import SYSTEMIC, Visit
from cancerllm.data.synth.course import Course, plan_course, visits_written
from cancerllm.data.synth.note_history import oral_or_endocrine
from cancerllm.data.synth.pathology import write_reports
from cancerllm.data.synth.people import make_person
from cancerllm.data.synth.phenotypes import select_sentences
from cancerllm.io import AtomicJsonlFiles, atomic_write_json

GENERATOR_VERSION = "1.0"
FILES = ("patients", "notes", "pathology", "phenotypes")


def _timeline(course: Course, rng: random.Random, start: dt.date) -> tuple[dict, list[dt.date]]:
    """Event dates and one date per course visit (consult first, weeks to months apart)."""
    dates = {"diagnosis": start - dt.timedelta(days=rng.randrange(7, 25))}
    visit_dates, day = [], start
    for kind in course.visits:
        if kind == "post_op":
            dates["surgery"] = day + dt.timedelta(days=rng.randrange(7, 40))
            day = dates["surgery"] + dt.timedelta(days=rng.randrange(10, 21))
        elif visit_dates:
            day = day + dt.timedelta(days=rng.randrange(21, 90))
        visit_dates.append(day)
    return dates, visit_dates


def _cycle(kind: str, course: Course, rng: random.Random) -> int:
    if kind == "radiation":
        return rng.randrange(3, course.radiation.fractions) if course.radiation.fractions > 3 else 1
    reg = getattr(course, kind, None) if kind in SYSTEMIC else course.first_line if kind == "restaging" else None
    if not reg:
        return 1
    if reg.cycles == 1:
        return 1
    top = reg.cycles or 12
    return rng.randrange(2, top + 1) if kind != "restaging" else rng.choice([2, 3, 4, 6])


def _visits(case: Case, course: Course, person, rng: random.Random, start: dt.date) -> tuple[list[Visit], dict]:
    dates, visit_dates = _timeline(course, rng, start)
    written = visits_written(course, rng)
    first = course.visits.index(written[0])
    progression = course.visits[-1] == "second_line"
    out = []
    for j, kind in enumerate(written):
        date = visit_dates[first + j]
        known = {k: d for k, d in dates.items() if d <= date}
        v = Visit(case, course, person, kind, date, known, rng, cycle=_cycle(kind, course, rng),
                  progression=progression)
        v.extras["age"] = case.age + (date - start).days // 365
        reg = v.regimen if kind in SYSTEMIC else None
        v.extras["tolerance"] = (rng.choices(["good", "reduce", "hold"], [.72, .16, .12])[0]
                                 if reg and not oral_or_endocrine(reg) else "good")
        out.append(v)
    return out, dates


def patient_records(index: int, seed: int) -> dict[str, list[dict]]:
    """All records of one patient, keyed by output file."""
    rng = random.Random(f"cancerllm-synth:{seed}:{index}")
    pid = f"P{index:06d}"
    case = sample_case(rng)
    course = plan_course(case, rng)
    start = dt.date(2015, 1, 5) + dt.timedelta(days=rng.randrange(9 * 365))
    person = make_person(rng, case.sex, case.age, start)
    visits, dates = _visits(case, course, person, rng, start)
    notes, docs = [], []
    for k, v in enumerate(visits, 1):
        record, doc = write_note(v, f"{pid}-N{k}", pid)
        notes.append(record)
        docs.append((record["id"], doc))
    reports = write_reports(case, course, person, dates, rng, pid)
    docs += [(rec["id"], doc) for rec, doc in reports]
    patient = {"id": pid, "cancer_type": case.key, "sex": case.sex, "age": case.age, "histology": case.hist[0],
               "stage": case.stage, "phi": person.phi_record()}
    return {"patients": [patient], "notes": notes, "pathology": [rec for rec, _ in reports],
            "phenotypes": select_sentences(docs, pid, rng)}


def generate(out_dir: str | os.PathLike, patients: int = 200, seed: int = 0) -> dict[str, int]:
    """Write patients/notes/pathology/phenotypes JSONL and manifest.json; return record counts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the corpus is synthetic and meant to be shared: 0644, not the private default
    with AtomicJsonlFiles({name: out / f"{name}.jsonl" for name in FILES}, mode=0o644) as writers:
        for i in range(patients):
            for name, records in patient_records(i, seed).items():
                for rec in records:
                    writers[name].write(rec)
    counts = {name: w.count for name, w in writers.items()}
    atomic_write_json(out / "manifest.json", {"generator": "cancerllm.data.synth", "version": GENERATOR_VERSION,
                                              "seed": seed, "patients": patients, "counts": counts})
    return counts
