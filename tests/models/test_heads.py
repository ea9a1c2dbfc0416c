"""MultiTaskHeads: pooling, long-report windows, trainable parameters, loss, save/reload."""

from __future__ import annotations

import pytest
import torch

from cancerllm.data.sections import reorder_sections
from cancerllm.models.heads import HeadsConfig, MultiTaskHeads
from cancerllm.models.pooling import last_token_index, pool_chunks, pool_hidden
from cancerllm.models.windows import HeadsCollator, encode_reports
from cancerllm.schema.staging import FIELDS, FINE

SMALL = dict(max_length=32, overlap=4, max_chunks=8, head_dropout=0.0,
             lora={"r": 4, "alpha": 8, "dropout": 0.0})

REPORTS = [
    "FINAL DIAGNOSIS:\nInvasive ductal carcinoma of the left breast, Nottingham grade 2.\n"
    "pT2 pN1a. ER positive, PR positive, HER2 negative.",
    "Core biopsy, right breast: ductal carcinoma in situ.",
    "",
]


@pytest.fixture(scope="module")
def heads_model(tiny_model_dir):
    torch.manual_seed(0)
    model = MultiTaskHeads.from_base(tiny_model_dir, HeadsConfig(**SMALL), device="cpu")
    # Non-zero LoRA B so the adapter changes the output (fresh LoRA is an identity).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model.eval()


def test_last_token_index_left_and_right_padding():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert last_token_index(right).tolist() == [2, 4, 0]
    assert last_token_index(left).tolist() == [4, 4, 4]


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_pooled_vector_does_not_depend_on_padding(heads_model, side, pooling):
    """Regression for the precursor's bug: hidden[:, -1] reads a pad token for shorter rows."""
    tok, enc = heads_model.tokenizer, heads_model.encoder
    short, long_ = tok("grade 2 tumor")["input_ids"], tok("ER positive, PR positive, HER2 negative")["input_ids"]

    def pooled(rows, padding_side):
        tok.padding_side = padding_side
        try:
            batch = tok.pad([{"input_ids": r} for r in rows], return_tensors="pt")
        finally:
            tok.padding_side = "right"
        mask = batch["attention_mask"]
        with torch.no_grad():
            hidden = enc(input_ids=batch["input_ids"], attention_mask=mask,
                         position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).last_hidden_state
        return pool_hidden(hidden, mask, pooling), hidden

    alone, _ = pooled([short], side)
    batched, hidden = pooled([short, long_], side)
    assert torch.allclose(batched[0], alone[0], atol=1e-5)
    if side == "right" and pooling == "last":
        assert not torch.allclose(hidden[0, -1], alone[0], atol=1e-3)  # what position -1 would read


def test_mean_pooling_ignores_nan_in_pad_positions():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [float("nan"), float("nan")]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool_hidden(hidden, mask, "mean").tolist() == [[2.0, 3.0]]


def test_pool_chunks_max_and_mean():
    vectors = torch.tensor([[1.0, 5.0], [3.0, 2.0], [7.0, 7.0]])
    owner = torch.tensor([0, 0, 1])
    assert pool_chunks(vectors, owner, "max").tolist() == [[3.0, 5.0], [7.0, 7.0]]
    assert pool_chunks(vectors, owner, "mean").tolist() == [[2.0, 3.5], [7.0, 7.0]]


def test_reorder_puts_synoptic_and_diagnosis_first():
    text = ("CLINICAL HISTORY: prior pT1 in 2015.\nGROSS DESCRIPTION:\nLumpectomy, 4 cm.\n"
            "FINAL DIAGNOSIS:\nInvasive carcinoma.\nSYNOPTIC REPORT\nProcedure: lumpectomy\n"
            "Primary Tumor (pT): pT2\nCOMMENT: none")
    out = reorder_sections(text).split("\n")
    assert out[0] == "SYNOPTIC REPORT" and out[1] == "Procedure: lumpectomy"  # not split at items
    assert out.index("FINAL DIAGNOSIS:") < out.index("GROSS DESCRIPTION:")
    assert out[-1].startswith("CLINICAL HISTORY")
    assert sorted(out) == sorted(text.split("\n"))
    assert reorder_sections("no headers here\njust text") == "no headers here\njust text"


def test_windows_cover_a_long_report(tiny_tokenizer_dir):
    from cancerllm.models.loading import load_tokenizer
    tok = load_tokenizer(tiny_tokenizer_dir)
    text = " ".join(f"invasive ductal carcinoma grade {i % 3 + 1}, tumor size {i}.{i} cm" for i in range(60))
    full = tok(text)["input_ids"]
    (windows,) = encode_reports(tok, [text], max_length=32, overlap=8, max_chunks=100, reorder=False)
    assert len(windows) > 3 and all(len(w) <= 32 for w in windows)
    rebuilt = windows[0] + [t for w in windows[1:] for t in w[8:]]  # drop each overlap once
    assert rebuilt == full
    (capped,) = encode_reports(tok, [text], max_length=32, overlap=8, max_chunks=2, reorder=False)
    assert capped == windows[:2]
    (empty,) = encode_reports(tok, [""], max_length=32, overlap=8, max_chunks=2)
    assert empty == [[tok.eos_token_id]]


def test_long_report_is_read_in_several_windows(heads_model):
    long_report = REPORTS[0] + "\nGROSS DESCRIPTION:\n" + "Received a lumpectomy specimen. " * 40
    windows = heads_model.encode([long_report])[0]
    assert len(windows) > 1
    batch = HeadsCollator(heads_model.tokenizer)([{"input_ids": windows}])
    assert batch["chunk_report"].tolist() == [0] * len(windows)
    pred = heads_model.predict([long_report])[0]
    assert set(pred) == set(FIELDS)


def test_only_lora_and_heads_are_trainable(heads_model):
    names = heads_model.trainable_parameter_names()
    assert names and all(("lora_" in n) or n.startswith("heads.") for n in names)
    assert {n.split(".")[1] for n in names if n.startswith("heads.")} == set(FIELDS)
    frozen = [n for n, p in heads_model.named_parameters() if not p.requires_grad]
    assert any("embed_tokens" in n for n in frozen)


def test_loss_keeps_nr_and_ignores_only_unlabelled(heads_model):
    batch = HeadsCollator(heads_model.tokenizer)(
        [{"input_ids": c, "labels": [-100] * len(FIELDS)} for c in heads_model.encode(REPORTS[:2])])
    out = heads_model(**batch)
    assert out["loss"].item() == 0.0 and out["loss"].requires_grad  # nothing labelled
    nr = [FINE[f].index("NR") for f in FIELDS]
    batch["labels"] = torch.tensor([nr, nr])
    loss_nr = heads_model(**batch)["loss"]
    assert loss_nr.item() > 0  # NR is a class that is learnt, not skipped
    expected = sum(torch.nn.functional.cross_entropy(out["logits"][f], batch["labels"][:, i])
                   for i, f in enumerate(FIELDS))
    assert torch.allclose(loss_nr, expected, atol=1e-5)


def test_predict_format(heads_model):
    preds = heads_model.predict(REPORTS, batch_size=2)
    assert len(preds) == len(REPORTS)
    for pred in preds:
        for f in FIELDS:
            assert pred[f]["label"] in FINE[f]
            assert list(pred[f]["probs"]) == FINE[f]
            assert abs(sum(pred[f]["probs"].values()) - 1) < 1e-5


def test_save_and_reload_give_the_same_predictions(heads_model, tmp_path):
    heads_model.save_pretrained(tmp_path / "heads")
    for name in ("adapter_config.json", "adapter_model.safetensors", "heads.safetensors",
                 "heads_config.json", "tokenizer_config.json"):
        assert (tmp_path / "heads" / name).is_file()
    reloaded = MultiTaskHeads.from_pretrained(tmp_path / "heads", device="cpu")
    assert reloaded.fields == heads_model.fields and reloaded.heads_config == heads_model.heads_config
    before, after = heads_model.predict(REPORTS), reloaded.predict(REPORTS)
    for a, b in zip(before, after):
        for f in FIELDS:
            assert a[f]["label"] == b[f]["label"]
            assert max(abs(a[f]["probs"][k] - b[f]["probs"][k]) for k in FINE[f]) < 1e-5


def test_loss_normalised_by_global_weights_splits_over_processes(tiny_model_dir):
    """Two slices of a batch, each divided by the whole batch's class weights and scaled by 2,
    average to the whole batch's loss and gradient (what HeadsTrainer does under DDP), where
    the average of the slices' own means does not."""
    torch.manual_seed(1)
    model = MultiTaskHeads.from_base(tiny_model_dir, HeadsConfig(**SMALL, fields=["pT", "ER"]), device="cpu")
    model.set_loss_weights({"ER": 0.5}, {"pT": [0.5 + i for i in range(len(FINE["pT"]))],
                                         "ER": [2.0, 1.0, 3.0]})
    logits = {f: torch.randn(6, len(FINE[f]), requires_grad=True) for f in model.fields}
    labels = torch.tensor([[0, -100], [3, -100], [1, -100], [3, 0], [2, 2], [-100, 1]])

    whole = model.loss(logits, labels)
    sums, weights = model.loss_terms(logits, labels)
    assert model.loss_from_terms(sums, weights).item() == pytest.approx(whole.item(), rel=1e-6)
    expected_grads = torch.autograd.grad(whole, list(logits.values()))

    slices = [slice(0, 3), slice(3, 6)]  # ER is labelled on the second process only
    terms = [model.loss_terms({f: v[s] for f, v in logits.items()}, labels[s]) for s in slices]
    global_weights = terms[0][1] + terms[1][1]  # the all-reduce
    per_process = [model.loss_from_terms(s, global_weights) * len(slices) for s, _ in terms]
    ddp = sum(per_process) / len(slices)  # DDP averages gradients; the Trainer averages the logged losses
    assert ddp.item() == pytest.approx(whole.item(), rel=1e-6)
    for got, want in zip(torch.autograd.grad(ddp, list(logits.values())), expected_grads):
        assert torch.allclose(got, want, atol=1e-7)

    local_means = sum(model.loss({f: v[s] for f, v in logits.items()}, labels[s]) for s in slices) / 2
    assert abs(local_means.item() - whole.item()) > 1e-2  # the per-process mean this replaces
