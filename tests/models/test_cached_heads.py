"""Heads that read the whole report: window coverage, cached features (resumable), dev-chosen
cached heads, and the LoRA mode with the same windows and attention pooling at toy scale."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from cancerllm.models.cached_heads import CachedHeadsConfig, CachedHeadsModel, cache_key, encode_cached

TINY = dict(max_length=32, overlap=8, encoder_layers=2, feature_layers=[1, 2], dtype="float32", batch_windows=4,
            pooling_grid=["max", "attention"], lr_grid=[1e-1], epochs_grid=[50, 150], dropout=0.0)


def _long_records(n: int, seed: int) -> list[dict]:
    """Reports whose T is stated only at the very end, after filler: truncation would lose it."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = rng.choice(["T1", "T3"])
        filler = " ".join(rng.choice(["gross", "tissue", "margin", "section", "submitted"]) for _ in range(60))
        out.append({"id": f"r{seed}-{i}", "text": f"{filler} final stage p{t} {'small' if t == 'T1' else 'large'}",
                    "labels": {"pT": t}})
    return out


def test_windows_cover_every_token_and_a_cap_is_counted(tiny_model_dir):
    from cancerllm.models.windows import encode_reports
    from cancerllm.models.loading import load_tokenizer
    tok = load_tokenizer(tiny_model_dir)
    texts = [r["text"] for r in _long_records(3, 0)]
    full: dict = {}
    encode_reports(tok, texts, 32, 8, 64, coverage=full)
    n_tokens = sum(len(tok(t)["input_ids"]) for t in texts)
    assert full["share_tokens_seen"] == 1.0 and full["reports_cut"] == 0 and full["tokens"] == n_tokens
    capped: dict = {}
    windows = encode_reports(tok, texts, 32, 8, 2, coverage=capped)
    assert all(len(w) == 2 for w in windows)
    assert capped["reports_cut"] == 3 and capped["windows_kept"] == 6 < capped["windows_needed"]
    assert capped["share_tokens_seen"] < 1.0 and capped["tokens"] == n_tokens


def test_features_are_cached_and_a_rerun_reads_them(tiny_model_dir, tmp_path, monkeypatch):
    cfg = CachedHeadsConfig(**TINY)
    texts = [r["text"] for r in _long_records(5, 1)]
    feats, cov = encode_cached(tiny_model_dir, texts, tmp_path, cfg, group=2)
    assert cov["reports_from_cache"] == 0 and len(list(tmp_path.glob("*.npy"))) == 5
    assert feats[0].shape[1:] == (2, 64) and feats[0].shape[0] >= 2   # windows x layers x hidden
    # a killed run: one report's file lost; the rerun encodes only that one
    (tmp_path / f"{cache_key(tiny_model_dir, texts[3], cfg)}.npy").unlink()
    again, cov = encode_cached(tiny_model_dir, texts, tmp_path, cfg, group=2)
    assert cov["reports_from_cache"] == 4
    for a, b in zip(feats, again):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # a different layer setting is a different cache entry, never a stale read
    other = CachedHeadsConfig(**{**TINY, "feature_layers": [2]})
    assert cache_key(tiny_model_dir, texts[0], other) != cache_key(tiny_model_dir, texts[0], cfg)


def test_cached_heads_choose_on_dev_and_learn_from_the_report_end(tmp_path):
    """Synthetic window features: the class is visible in the *last* window only."""
    rng = np.random.default_rng(0)

    def make(n):
        recs, feats = [], []
        for i in range(n):
            t = ["T1", "T3"][i % 2]
            w = (0.3 * rng.normal(size=(3, 2, 8))).astype(np.float32)
            w[-1, :, 0] += 4.0 if t == "T3" else -4.0
            recs.append({"text": "", "labels": {"pT": t, "pN": None}})
            feats.append(w)
        return recs, feats
    (train, tf), (dev, df), (test, sf) = make(60), make(20), make(20)
    cfg = CachedHeadsConfig(**TINY)
    model = CachedHeadsModel.fit(tf, train, df, dev, ["pT", "pN"], cfg, single_task=False)
    g = model.groups[0]
    assert g["pooling"] in cfg.pooling_grid and g["epochs"] in cfg.epochs_grid and g["layer"] in (1, 2)
    preds = model.predict_features(sf)
    acc = np.mean([p["pT"]["label"] == r["labels"]["pT"] for p, r in zip(preds, test)])
    assert acc >= 0.9
    model.save_pretrained(tmp_path / "m")
    again = CachedHeadsModel.from_pretrained(tmp_path / "m")
    assert again.predict_features(sf) == preds
    single = CachedHeadsModel.fit(tf, train, df, dev, ["pT"], cfg, single_task=True)
    assert [grp["fields"] for grp in single.groups] == [["pT"]]


def test_attention_pooling_weights_windows_within_each_report():
    from cancerllm.models.pooling import WindowPool
    pool = WindowPool(4, "attention")
    vectors = torch.randn(5, 4)
    owner = torch.tensor([0, 0, 0, 1, 1])
    out = pool(vectors, owner)
    assert out.shape == (2, 4)
    # report 1 alone gives the same vector (no leak across reports)
    alone = pool(vectors[3:], torch.tensor([0, 0]))
    torch.testing.assert_close(out[1], alone[0])
    # a convex combination of the report's own windows
    assert torch.all(out[0] <= vectors[:3].max(0).values + 1e-6)


def test_lora_mode_reads_whole_reports_with_attention_pooling(tiny_model_dir, tmp_path):
    """The LoRA mode end to end at toy scale: same windows, attention pooling, trained, saved, reloaded."""
    from cancerllm.config import load_config
    from cancerllm.models.heads import MultiTaskHeads
    from cancerllm.train.heads import HeadsTrainConfig, train_heads
    from tests.train.test_heads_training import write_jsonl
    recs = _long_records(24, 3)
    for i, r in enumerate(recs):
        r["split"] = "train" if i < 18 else "validation"
    data = write_jsonl(tmp_path / "pathology.jsonl", recs)
    cfg = load_config(HeadsTrainConfig, "heads-tiny", [
        "model.max_length=32", "model.overlap=8", "model.max_chunks=64", "model.chunk_pool=attention",
        "model.pooling=mean", "model.lora.r=4", "model.lora.alpha=8", "train.max_steps=6",
        "train.per_device_train_batch_size=6", "train.logging_steps=1", "train.warmup_steps=0",
        "train.eval_steps=null", "train.save_steps=6"])
    metrics = train_heads(tiny_model_dir, data, tmp_path / "run", cfg, fields=["pT"])
    assert metrics["global_step"] == 6 and metrics["first_logged_loss"] is not None
    model = MultiTaskHeads.from_pretrained(tmp_path / "run")
    assert "_window_pool.score.weight" in {k for k, _ in model.heads.named_parameters()}
    pred = model.predict([recs[0]["text"]])[0]["pT"]
    assert abs(sum(pred["probs"].values()) - 1) < 1e-5
    assert len(model.encode([recs[0]["text"]])[0]) > 1   # more than one window: the whole report


def _evidence_data(n: int, seed: int):
    """Windows that carry nothing; the class is in the findings (and the evidence window)."""
    from cancerllm.models.cached_heads import ReportFeatures
    rng = np.random.default_rng(seed)
    recs, windows, ev, found = [], [], [], []
    for i in range(n):
        t = ["T1", "T3"][i % 2]
        windows.append((0.3 * rng.normal(size=(2, 2, 8))).astype(np.float32))
        e = (0.3 * rng.normal(size=(2, 8))).astype(np.float32)
        e[:, 1] += 3.0 if t == "T3" else -3.0
        ev.append(e)
        found.append({f"rule_pT={t}": 1.0, "size=none": 1.0})
        recs.append({"text": "", "labels": {"pT": t}})
    return recs, ReportFeatures(windows, np.stack(ev), found)


@pytest.mark.parametrize("evidence", ["findings", "window", "both"])
def test_heads_learn_from_the_evidence_beside_the_windows(evidence, tmp_path):
    (train, tf), (dev, df), (test, sf) = _evidence_data(40, 0), _evidence_data(20, 1), _evidence_data(20, 2)
    cfg = CachedHeadsConfig(**{**TINY, "evidence_grid": ["none", evidence], "pooling_grid": ["mean"]})
    model = CachedHeadsModel.fit(tf, train, df, dev, ["pT"], cfg, single_task=False)
    assert model.groups[0]["evidence"] == evidence   # chosen on dev over the plain heads
    preds = model.predict_features(sf)
    assert np.mean([p["pT"]["label"] == r["labels"]["pT"] for p, r in zip(preds, test)]) >= 0.9
    model.save_pretrained(tmp_path / "m")
    again = CachedHeadsModel.from_pretrained(tmp_path / "m")
    assert again.findings_vocab == model.findings_vocab and again.predict_features(sf) == preds
    with pytest.raises(Exception, match="registry"):
        again.predict_texts(["pT1"])   # the evidence needs the rules: the registry builds it


def test_weight_decay_is_a_grid_chosen_on_dev():
    (train, tf), (dev, df), _ = _evidence_data(30, 0), _evidence_data(10, 1), None
    cfg = CachedHeadsConfig(**{**TINY, "evidence_grid": ["findings"], "pooling_grid": ["mean"],
                               "weight_decay_grid": [0.0, 1.0]})
    g = CachedHeadsModel.fit(tf, train, df, dev, ["pT"], cfg, single_task=True).groups[0]
    assert g["weight_decay"] in (0.0, 1.0) and g["evidence"] == "findings"


def test_a_folder_written_before_the_weight_decay_grid_still_loads(tmp_path):
    import json
    (train, tf), (dev, df), (test, sf) = _evidence_data(20, 0), _evidence_data(10, 1), _evidence_data(4, 2)
    cfg = CachedHeadsConfig(**{**TINY, "pooling_grid": ["mean"], "epochs_grid": [10]})
    model = CachedHeadsModel.fit(tf, train, df, dev, ["pT"], cfg, single_task=False)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "cached_heads.json").read_text())
    saved["config"]["weight_decay"] = saved["config"].pop("weight_decay_grid")[0]
    del saved["findings_vocab"]
    (tmp_path / "cached_heads.json").write_text(json.dumps(saved))
    assert CachedHeadsModel.from_pretrained(tmp_path).predict_features(sf) == model.predict_features(sf)
