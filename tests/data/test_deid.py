"""De-identification: each identifier type goes, clinical facts stay, dates shift per patient."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from cancerllm.data.deid import Deidentifier, deidentify, measure_recall

NOTE = """Patient: OKAFOR, IFEOMA
MRN: MR0048213   DOB: 03/14/1931
Visit date: March 4, 2023
Home phone (612) 555-0142, cell +1 651 555 0199
Address: 4821 Como Ave SE, Minneapolis, MN 55414
Email: ifeoma.okafor@example.org
Provider: Dr. Rajesh Kumar

Ms. Okafor is a 92-year-old woman with invasive ductal carcinoma diagnosed on 04-Feb-2023.
Seen with her husband Kwame. Okafor reports fatigue. Lives at 77 Lake St, Duluth, MN 55802.
Discussed with Maria Garcia, MD. Next visit 2023-06-11.
Electronically signed by Lars Hansen, M.D. on 3/4/23"""

IDENTIFIERS = ["OKAFOR", "IFEOMA", "Okafor", "MR0048213", "555-0142", "651 555 0199", "4821 Como Ave",
               "Minneapolis", "55414", "ifeoma.okafor", "Rajesh", "Kumar", "Kwame", "77 Lake St", "Duluth",
               "Maria Garcia", "Lars Hansen", "03/14/1931", "March 4, 2023", "04-Feb-2023", "2023-06-11",
               "3/4/23", "92-year-old"]

CLINICAL = ("Gleason score 4+3=7, Grade Group 3. ER 95%, PR 10%, HER2 2+ by IHC, Ki-67 20%. pT2 pN1a "
            "(2/15 lymph nodes) M0, stage IIB. Clark level IV, Breslow 2.1 mm. Ann Arbor stage IIIB. "
            "Tumor 2.3 x 1.5 x 0.8 cm. WBC 10.2, Hgb 12.1, CA 19-9 37, PSA 4.2 ng/mL. Letrozole 2.5 mg "
            "daily. Discussed at Tumor Board. Seen by Oncology. Hodgkin lymphoma; Ivor Lewis "
            "esophagectomy; Mohs surgery; Lynch syndrome. May continue. The patient is 67 years old.")


@pytest.fixture(scope="module")
def deid():
    return Deidentifier("test-secret")


def test_every_identifier_type_is_replaced(deid):
    out = deid.deidentify(NOTE, "P1")
    for value in IDENTIFIERS:
        assert value not in out.text, value
    for tag in ("[NAME]", "[MRN]", "[PHONE]", "[EMAIL]", "[ADDRESS]"):
        assert tag in out.text
    assert "90+-year-old" in out.text
    assert set(out.counts) == {"NAME", "MRN", "PHONE", "EMAIL", "ADDRESS", "DATE", "AGE"}
    assert "invasive ductal carcinoma" in out.text and "reports fatigue" in out.text


def test_clinical_facts_are_left_alone(deid):
    assert deid.deidentify(CLINICAL, "P1").text == CLINICAL


def _dates(text: str) -> list[str]:
    return re.findall(r"\d{1,4}[/-]\w{1,3}[/-]\d{2,4}|[A-Z][a-z]+ \d{1,2}, \d{4}", text)


def test_dates_shift_by_one_offset_per_patient_and_keep_their_format(deid):
    text = "Seen 03/14/2023, again 2023-03-20 and March 27, 2023; biopsy 04-Feb-2023, CT 3/4/23."
    a1, a2 = deid.deidentify(text, "P1").text, deid.deidentify(text, "P1").text
    b = deid.deidentify(text, "P2").text
    assert a1 == a2 and a1 != text and b != a1
    shapes = [r"\d\d/\d\d/\d{4}", r"\d{4}-\d\d-\d\d", r"[A-Z][a-z]+ \d{1,2}, \d{4}", r"\d\d-[A-Z][a-z]{2}-\d{4}",
              r"\d{1,2}/\d{1,2}/\d\d"]
    pattern = (r"Seen ({}), again ({}) and ({}); biopsy ({}), CT ({})\.").format(*shapes)
    m = re.fullmatch(pattern, a1)
    assert m, a1
    import datetime as dt
    first = dt.datetime.strptime(m.group(1), "%m/%d/%Y").date()
    second = dt.date.fromisoformat(m.group(2))
    third = dt.datetime.strptime(m.group(3), "%B %d, %Y").date()
    assert (second - first).days == 6 and (third - first).days == 13      # intervals survive
    shift = (first - dt.date(2023, 3, 14)).days
    assert shift == deid.shift_days("P1") and shift != 0 and abs(shift) <= 365
    assert Deidentifier("other-secret").deidentify(text, "P1").text != a1


def test_only_ages_over_89_are_replaced(deid):
    out = deid.deidentify("A 67 yo man; his mother, 94 y/o, and aunt aged 101. Age: 89.", "P1").text
    assert out == "A 67 yo man; his mother, 90+ y/o, and aunt aged 90+. Age: 89."


@pytest.mark.parametrize("text, expected", [
    ("Dr. Young reviewed the CT; CT was clear.", "Dr. [NAME] reviewed the CT; CT was clear."),
    ("Pt: NGUYEN, HOA", "Pt: [NAME]"),
    ("Spoke with Ifeoma by phone; Ifeoma agrees.", "Spoke with [NAME] by phone; [NAME] agrees."),
    ("Also present was Maria Garcia today.", "Also present was [NAME] today."),
    ("Seen by Oncology. Discussed with Tumor Board.", "Seen by Oncology. Discussed with Tumor Board."),
    ("Mallory Weiss tear. Seen with Dr. Clark April 14, 2021.",
     "Mallory Weiss tear. Seen with Dr. [NAME] April 14, 2021."),
])
def test_names_by_context_and_lexicon(text, expected):
    # A secret whose shift is computed below, so the date in the last case can be checked.
    d = Deidentifier("names")
    out = d.deidentify(text, "P1").text
    if "April 14, 2021" in expected:
        import datetime as dt
        new = dt.date(2021, 4, 14) + dt.timedelta(days=d.shift_days("P1"))
        expected = expected.replace("April 14, 2021", f"{new:%B} {new.day}, {new.year}")
    assert out == expected


def test_names_from_record_fields_are_removed_everywhere(deid):
    out = deid.deidentify("Zebulon reports less pain; ZEBULON WOOLRIDGE seen.", "P1",
                          names=("Zebulon Woolridge",)).text
    assert "Zebulon" not in out and "ZEBULON" not in out and "WOOLRIDGE" not in out


@pytest.fixture(scope="module")
def synthetic_records(tmp_path_factory):
    from cancerllm.data.synth import generate
    out = tmp_path_factory.mktemp("synth_deid")
    generate(out, patients=300, seed=0)
    return [json.loads(line) for name in ("notes.jsonl", "pathology.jsonl")
            for line in (out / name).read_text(encoding="utf-8").splitlines()]


def test_recall_of_planted_identifiers(synthetic_records):
    result = measure_recall(synthetic_records)
    # Measured (300 patients, seed 0, 1,286 notes and reports): 11,765 / 11,765 = 1.000 overall,
    # 1.000 for every type; 1.000 of replaced characters were planted PHI. See docs/privacy.md
    # for harder probes (no identifying header: 0.986; lone surname without context: 0).
    assert result["overall"]["planted"] > 5000
    assert result["overall"]["recall"] >= 0.99
    for kind, r in result["by_type"].items():
        assert r["recall"] >= 0.97, (kind, r)
    assert set(result["by_type"]) >= {"NAME", "DATE", "MRN", "PHONE", "ADDRESS", "EMAIL", "AGE"}
    assert result["precision_chars"] > 0.9
    assert all(set(m) == {"id", "type", "start", "end"} for m in result["missed"])


def test_cli_streams_reports_malformed_lines_and_drops_planted_values(tmp_path, synthetic_records):
    from cancerllm.cli import app
    src = tmp_path / "notes.jsonl"
    recs = synthetic_records[:20]
    lines = [json.dumps(r) for r in recs]
    lines.insert(3, "{not json")
    lines.insert(7, json.dumps({"id": "no-text", "patient_id": "P9"}))
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, report = tmp_path / "deid.jsonl", tmp_path / "report.json"
    res = CliRunner().invoke(app, ["data", "deid", "--in", str(src), "--out", str(out),
                                   "--date-shift-seed", "s3cret", "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "read 20, written 20, skipped 2" in res.output
    assert f"{src}:4" in res.output and f"{src}:8" in res.output
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == [r["id"] for r in recs]
    body = out.read_text(encoding="utf-8")
    for rec in recs:
        for phi in rec["phi"]:
            if phi["type"] != "AGE":
                assert phi["text"] not in body, phi["type"]
    assert all("phi" not in r and r["deid"] for r in written)
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["records_written"] == 20 and rep["n_skipped"] == 2 and rep["replaced"]["NAME"] > 0
    assert set(rep["replaced"]) <= {"NAME", "DATE", "MRN", "ID", "IP", "PHONE", "EMAIL", "URL", "ADDRESS", "AGE"}


def test_output_never_overwrites_input(tmp_path):
    from cancerllm.errors import InputError
    src = tmp_path / "n.jsonl"
    src.write_text('{"id": "a", "text": "Dr. Smith"}\n', encoding="utf-8")
    with pytest.raises(InputError):
        deidentify(src, src)


# ---------------------------------------------------------------- round two: a hand-written planted set


def test_held_out_planted_set_recall_and_no_clinical_damage(deid):
    """tests/fixtures/deid_planted.py: TEST (158 identifiers, 14 categories) was written with
    DEV before any tuning and never tuned on. Measured: 152 / 158 = 0.962 (NAME 49 / 55,
    every other category complete); DEV 61 / 61; 0 of 50 clinical sentences changed."""
    from tests.fixtures.deid_planted import CLINICAL_DEV, CLINICAL_TEST, DEV, TEST, records
    held_out, dev = measure_recall(records(TEST)), measure_recall(records(DEV))
    assert len({p["type"] for r in records(TEST) for p in r["phi"]}) >= 10 and held_out["overall"]["planted"] >= 150
    assert held_out["overall"]["recall"] >= 0.95, held_out["by_type"]
    assert dev["overall"]["recall"] >= 0.95, dev["missed"]
    damaged = [s for s in CLINICAL_DEV + CLINICAL_TEST if deid.deidentify(s, "P1").text != s]
    assert damaged == []


@pytest.mark.parametrize("text, gone, kept", [
    ("Pager 4-1234; beeper 32145; page the fellow at x4321", ["4-1234", "32145", "4321"], ["Pager", "fellow"]),
    ("Lives at 55 W 3rd St Apt 2 with her sister.", ["55 W 3rd St Apt 2"], ["with her sister"]),
    ("Social security 123 45 6789. SS# 078.05.1120", ["123 45 6789", "078.05.1120"], ["Social security"]),
    ("Encounter #: E7654321. Member ID: XJH123456789. DEA number AB1234563.",
     ["E7654321", "XJH123456789", "AB1234563"], ["Encounter #:"]),
    ("Nurse Amy drew labs. Patient Rose Baker tolerated it.", ["Amy", "Rose", "Baker"], ["Nurse", "tolerated"]),
    ("Surgery on 3rd of May; admitted the fourth of July, 2021.", ["3rd of May", "fourth of July"], ["Surgery"]),
    ("Referred to Dr. De La Cruz. DE LA CRUZ, MARIA here.", ["De La", "Cruz", "CRUZ", "DE LA"], ["Referred"]),
    ("Login from 192.168.1.10 and 2001:db8::1.", ["192.168.1.10", "2001:db8::1"], ["Login"]),
    ("A ninety-two-year-old woman. Aged ninety.", ["ninety-two", "ninety."], ["woman"]),
    ("Reason for visit: C8D1. CA 15-3 23.2, mg/dL CA-125 20. Sister Mary Joseph nodule. CC: Restaging",
     [], ["C8D1", "CA 15-3", "CA-125", "Sister Mary Joseph", "Restaging"]),
])
def test_issue_17_probe_misses(deid, text, gone, kept):
    out = deid.deidentify(text, "P1").text
    assert [g for g in gone if g in out] == [] and [k for k in kept if k not in out] == []


def test_day_words_shift_and_stay_words(deid):
    from cancerllm.data.deid.dates import ORDINAL_WORDS
    words = deid.deidentify("Admitted the fourth of July, 2021.", "P1").text.split()
    assert words[:2] == ["Admitted", "the"] and words[2] in ORDINAL_WORDS and words[3] == "of"
    assert (words[2], words[4]) != ("fourth", "July,")


def test_date_shift_secret_from_a_file_or_the_environment(tmp_path, monkeypatch):
    from cancerllm.cli import app
    from cancerllm.errors import InputError
    src = tmp_path / "n.jsonl"
    src.write_text('{"id": "a", "patient_id": "P1", "text": "Seen on 03/14/2023."}\n', encoding="utf-8")
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    by_option = deidentify(src, tmp_path / "o1.jsonl", date_shift_seed="s3cret")
    by_file = CliRunner().invoke(app, ["data", "deid", "--in", str(src), "--out", str(tmp_path / "o2.jsonl"),
                                       "--date-shift-seed-file", str(secret)])
    assert by_file.exit_code == 0, by_file.output
    monkeypatch.setenv("CANCERLLM_DEID_SECRET", "s3cret")
    by_env = deidentify(src, tmp_path / "o3.jsonl")
    texts = {(tmp_path / f"o{i}.jsonl").read_text(encoding="utf-8") for i in (1, 2, 3)}
    assert len(texts) == 1 and "03/14/2023" not in texts.pop()  # one secret, one shift
    assert by_env["date_shift"] == "keyed by the secret from the environment" and "option" in by_option["date_shift"]
    assert "s3cret" not in json.dumps(by_env) + by_file.output  # the secret is never reported
    assert oct((tmp_path / "o3.jsonl").stat().st_mode & 0o777) == "0o600"
    secret.write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        deidentify(src, tmp_path / "o4.jsonl", date_shift_seed_file=secret)
    with pytest.raises(InputError, match="not both"):
        deidentify(src, tmp_path / "o4.jsonl", date_shift_seed="x", date_shift_seed_file=secret)
