"""The one base-model loader: what every path (training, generation, serving) gets from it."""

from __future__ import annotations

import torch

from cancerllm.models.loading import load_base_model


def test_lm_head_reads_a_contiguous_input_and_gives_the_same_logits(tiny_model_dir):
    model = load_base_model(tiny_model_dir, "inference", "float32")
    head = model.get_output_embeddings()
    seen = []
    head.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous()))
    ids = torch.randint(5, 100, (3, 12))
    with torch.no_grad():
        last = model(input_ids=ids, logits_to_keep=1).logits        # a non-contiguous slice reaches the head
        full = model(input_ids=ids).logits
    assert seen == [True, True]
    assert torch.allclose(last[:, -1], full[:, -1], atol=1e-5)


def test_the_hook_is_added_once(tiny_model_dir):
    from cancerllm.models.loading import contiguous_lm_head_input
    model = load_base_model(tiny_model_dir, "inference", "float32")
    contiguous_lm_head_input(model)
    assert len(model.get_output_embeddings()._forward_pre_hooks) == 1


def test_an_encoder_without_lm_head_loads(tiny_model_dir):
    model = load_base_model(tiny_model_dir, "inference", "float32", encoder=True)
    assert model.get_output_embeddings() is None
