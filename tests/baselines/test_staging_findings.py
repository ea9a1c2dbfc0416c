"""What the rules and the small readers find, as features and as text for a model to read."""

from __future__ import annotations

import pytest

from cancerllm.baselines.staging_findings import evidence_text, findings, node_counts, tumour_sizes_cm


@pytest.mark.parametrize("text, positive, examined", [
    ("Lymph nodes: number with metastases: 1; number examined: 23.", 1, 23),
    ("Two of fifteen lymph nodes contain metastatic carcinoma.", 2, 15),
    ("Metastatic carcinoma in 3/12 lymph nodes.", 3, 12),
    ("Regional lymph nodes: pN1a (2/15).", 2, 15),
    ("Four lymph nodes, no tumor present.", 0, 4),
    ("Margins are free.", None, None),
])
def test_node_counts(text, positive, examined):
    counts = node_counts(text)
    assert (counts["positive"], counts["examined"]) == (positive, examined)


def test_no_nodes_sampled_is_its_own_finding():
    assert node_counts("Lymph node status: No lymph nodes resected.")["none_sampled"]
    assert findings("Lymph node status: No lymph nodes resected.")["nodes=none_sampled"] == 1
    assert findings("Margins are free.")["nodes=unread"] == 1


def test_findings_carry_the_size_implied_t_of_size_staged_organs_only():
    text = "Invasive ductal carcinoma, 2.5 cm in greatest dimension."
    breast = findings(text, "BRCA")
    assert breast["size_T=T2"] == 1 and breast["size_T=T2|BRCA"] == 1 and breast["size_bin=2|BRCA"] == 1
    assert findings("Invasive carcinoma, 1.5 cm.", "BRCA")["size_T=T1"] == 1
    assert findings("Tumor size: 8 cm.", "KIRC")["size_T=T2"] == 1
    assert not any(k.startswith("size_T") for k in findings(text, "COAD"))   # colon: T by depth, not size
    assert not any(k.startswith("size_T") for k in findings(text))           # no cancer type, no table
    assert not any(k.startswith("size_T") for k in findings(text, "BRCA", size_t=False))
    assert tumour_sizes_cm(text) == [2.5]


def test_evidence_text_states_the_findings_then_their_sentences():
    text = ("Gross: a lumpectomy specimen. Diagnosis: invasive carcinoma, 1.8 cm. Two of fifteen lymph nodes "
            "contain metastatic carcinoma. Pathologic stage: pT1c pN1a. ER positive.")
    ev = evidence_text(text)
    assert ev.startswith("Findings: pT T1; pN N1; M NR; ER positive; PR NR; HER2 NR.")
    assert "Largest tumour size 1.8 cm." in ev and "Lymph nodes: 2 positive of 15 examined." in ev
    assert "Evidence: Pathologic stage: pT1c pN1a." in ev and ev.count("pT1c") == 1   # one sentence, once
    assert evidence_text("").startswith("Findings: pT NR; pN NR")


def test_evidence_heads_train_on_report_features_and_serve_through_the_registry(tiny_model_dir, tmp_path):
    """End to end on the tiny base: windows + evidence window + findings cached, heads chosen
    on dev, saved, loaded by the `heads_cached` system, which rebuilds the evidence from text."""
    from cancerllm.baselines.staging_findings import report_features
    from cancerllm.baselines.staging_systems import get_staging_system
    from cancerllm.models.cached_heads import CachedHeadsConfig, CachedHeadsModel

    def text(t):
        return f"Gross: tissue. Diagnosis: carcinoma. Pathologic stage: p{t} pN0."

    def records(n, offset):
        return [{"text": text(t), "labels": {"pT": t}} for t in (["T1", "T3"] * n)[offset:offset + n]]
    train, dev = records(12, 0), records(6, 1)
    cfg = CachedHeadsConfig(max_length=32, overlap=8, encoder_layers=2, feature_layers=[2], dtype="float32",
                            pooling_grid=["mean"], lr_grid=[0.1], epochs_grid=[60], evidence_grid=["both"], dropout=0.0)
    feats = {}
    for name, recs in (("train", train), ("dev", dev)):
        feats[name], cov = report_features(tiny_model_dir, [r["text"] for r in recs], tmp_path / "cache", cfg,
                                           log_every=0)
        assert cov["share_tokens_seen"] == 1.0 and feats[name].evidence.shape == (len(recs), 1, 64)
    model = CachedHeadsModel.fit(feats["train"], train, feats["dev"], dev, ["pT"], cfg, False, str(tiny_model_dir))
    assert "rule_pT=T3" in model.findings_vocab
    model.save_pretrained(tmp_path / "heads")
    predict = get_staging_system("heads_cached").load(tmp_path / "heads", None)
    rows = predict([text("T3"), text("T1")])
    assert [r["pT"]["label"] for r in rows] == ["T3", "T1"]
