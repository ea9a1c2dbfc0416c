import json

import pytest

from cancerllm.data.corpus import CorpusConfig, CleanStats, clean_documents, clean_text, pack_corpus
from cancerllm.data.partition import assign_split


def test_clean_text():
    assert clean_text("  ER\tpositive\x00\x07 ,\r\n\r\n\r\n\r\nHER2  neg ") == "ER positive ,\n\nHER2 neg"


def _note(i):
    return (f"Clinic note {i}. Patient {i} with invasive ductal carcinoma of the left breast measuring "
            f"{i % 7 + 1}.{i % 10} cm, ER positive, PR positive, HER2 negative, seen for cycle {i} of "
            f"adjuvant chemotherapy with docetaxel and cyclophosphamide; tolerating well, mild fatigue {i}.")


def test_dedup_and_test_patients_held_out():
    docs = [(f"d{i}", f"P{i}", _note(i)) for i in range(300)]
    p = next(f"P{i}" for i in range(300) if assign_split(f"P{i}", 0) == "train")
    i = int(p[1:])
    docs.append(("dup-exact", p, _note(i).upper()))                          # case-only change: exact dup
    docs.append(("dup-near", p, _note(i) + " Seen."))                        # one word added: near dup
    docs.append(("short", "P3", "ok"))
    stats = CleanStats()
    kept = list(clean_documents(docs, CorpusConfig(), stats))
    ids = {r["id"] for _, r in kept}
    assert stats.exact_duplicates >= 1 and stats.near_duplicates >= 1 and stats.empty_or_short == 1
    assert "dup-exact" not in ids and "dup-near" not in ids
    for split, rec in kept:
        assert split == assign_split(rec["patient_id"], 0) != "test"
    assert stats.held_out_test_patients == sum(1 for i in range(300) if assign_split(f"P{i}", 0) == "test")
    assert stats.read == len(docs)
    assert stats.read == (len(kept) + stats.exact_duplicates + stats.near_duplicates
                          + stats.empty_or_short + stats.held_out_test_patients)


def test_pack_blocks(tmp_path, tiny_tokenizer_dir):
    from datasets import load_from_disk

    from cancerllm.models.loading import load_tokenizer
    clean = tmp_path / "clean"
    clean.mkdir()
    texts = [_note(i) for i in range(40)]
    (clean / "train.jsonl").write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n"
                                               for i, t in enumerate(texts)))
    (clean / "validation.jsonl").write_text(json.dumps({"id": "v", "text": _note(99) * 3}) + "\n")
    info = pack_corpus(clean, tiny_tokenizer_dir, tmp_path / "packed", block_size=64)
    ds = load_from_disk(str(tmp_path / "packed"))
    tok = load_tokenizer(tiny_tokenizer_dir)
    assert all(len(x) == 64 for x in ds["train"]["input_ids"])
    total = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)
    assert info["tokens"]["train"] == total
    assert info["blocks"]["train"] * 64 + info["dropped_tail_tokens"]["train"] == total
    flat = [t for b in ds["train"]["input_ids"] for t in b]
    assert flat.count(tok.eos_token_id) >= len(texts) - 2      # every document ends with EOS
    assert tok.pad_token_id not in flat                        # packing never trains on padding
    # no datasets cache (full copies of the notes) left beside or inside the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean", "packed"]
    assert not [p for p in (tmp_path / "packed").rglob("cache-*")]
