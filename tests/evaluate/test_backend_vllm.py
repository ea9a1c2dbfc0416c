"""The vLLM backend with vllm mocked: the clear error without it, the parameters it is given,
and answers identical to the HF backend when the engine returns the same greedy token ids.

vLLM itself does not run on a CPU; benchmarks/gpu_check.sh checks the real engine on a GPU.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import pytest
import torch

from cancerllm.errors import ConfigError
from cancerllm.evaluate import predictions
from cancerllm.evaluate.backends import vllm as backend
from cancerllm.evaluate.predictions import generate_predictions, resolve_backend
from cancerllm.io import read_jsonl
from cancerllm.tasks.store import read_split


def test_without_vllm_the_backend_is_a_clear_error():
    assert "vllm" not in sys.modules
    with pytest.raises(ConfigError, match="vllm package"):
        resolve_backend("vllm")
    with pytest.raises(ConfigError, match="pip install vllm"):
        backend.require_vllm()
    assert resolve_backend("auto") == "hf"


def test_engine_arguments_for_an_adapter_and_quantization(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 12}))
    kw = backend.engine_kwargs("M", tmp_path, quantization="4bit")
    assert kw["enable_lora"] and kw["max_lora_rank"] == 16 and kw["max_loras"] == 1
    assert kw["quantization"] == "bitsandbytes" and kw["model"] == kw["tokenizer"] == "M"
    assert backend.engine_kwargs("M")["dtype"] == "auto" and "enable_lora" not in backend.engine_kwargs("M")
    with pytest.raises(ConfigError, match="--backend hf"):
        backend.engine_kwargs("M", quantization="8bit")


class FakeVllm:
    """Stands in for the vllm package: records what it is given and decodes greedily with the
    HF model, returning ids the way vLLM does (the stop token included, nothing after it)."""

    def __init__(self, model_dir):
        self.model_dir = model_dir
        self.llm_kwargs, self.calls = None, []
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.__dict__.update(kwargs)

        class LoRARequest:
            def __init__(self, name, lora_id, path):
                self.name, self.lora_id, self.path = name, lora_id, path

        class LLM:
            def __init__(self, **kwargs):
                from transformers import AutoModelForCausalLM
                fake.llm_kwargs = kwargs
                self.model = AutoModelForCausalLM.from_pretrained(kwargs["model"], dtype=torch.float32)

            def generate(self, prompts, params, lora_request=None, use_tqdm=True):
                fake.calls.append((params, lora_request))
                outs = []
                for p in prompts:
                    ids = torch.tensor([p["prompt_token_ids"]])
                    with torch.no_grad():
                        out = self.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                                  max_new_tokens=params.max_tokens,
                                                  eos_token_id=params.stop_token_ids, pad_token_id=0)
                    new = out[0, ids.shape[1]:].tolist()
                    outs.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=new, text="")]))
                return outs

        self.modules = {"vllm": types.ModuleType("vllm"), "vllm.lora": types.ModuleType("vllm.lora"),
                        "vllm.lora.request": types.ModuleType("vllm.lora.request")}
        for name, mod in self.modules.items():
            mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
        self.modules["vllm"].LLM, self.modules["vllm"].SamplingParams = LLM, SamplingParams
        self.modules["vllm.lora.request"].LoRARequest = LoRARequest


@pytest.fixture
def fake_vllm(monkeypatch, lively_model_dir):
    fake = FakeVllm(lively_model_dir)
    for name, mod in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(predictions, "_cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (6 * 2**30, 8 * 2**30))
    return fake


def test_greedy_parameters_and_answers_identical_to_hf(fake_vllm, lively_model_dir, tasks_dir, tmp_path):
    records = read_split(tasks_dir, "phenotype", "test")
    hf = generate_predictions(lively_model_dir, "phenotype", records, tmp_path / "hf.jsonl", backend="hf",
                              device="cpu", max_new_tokens=12, batch_size=4)
    vl = generate_predictions(lively_model_dir, "phenotype", records, tmp_path / "vllm.jsonl",
                              backend="vllm", max_new_tokens=12, batch_size=4)
    assert vl.backend == "vllm" and vl.memory_kind == "cuda_device_used_above_start"
    params, lora = fake_vllm.calls[0]
    assert params.temperature == 0.0 and params.max_tokens == 12 and lora is None
    from cancerllm.models.loading import load_tokenizer
    tok = load_tokenizer(lively_model_dir)
    assert tok.eos_token_id in params.stop_token_ids
    assert fake_vllm.llm_kwargs["model"] == str(lively_model_dir) and fake_vllm.llm_kwargs["seed"] == 0
    hf_rows = {r["id"]: r["prediction"] for r in read_jsonl(tmp_path / "hf.jsonl")}
    vl_rows = {r["id"]: r["prediction"] for r in read_jsonl(tmp_path / "vllm.jsonl")}
    assert vl_rows == hf_rows and len(set(hf_rows.values())) > 1  # same answers, and not all alike


def test_an_adapter_goes_in_a_lora_request(fake_vllm, lively_model_dir, tasks_dir, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 64, "base_model_name_or_path": "x"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    records = read_split(tasks_dir, "phenotype", "test")[:2]
    generate_predictions(lively_model_dir, "phenotype", records, tmp_path / "p.jsonl", adapter_dir=adapter,
                         backend="vllm", max_new_tokens=4)
    _, lora = fake_vllm.calls[0]
    assert lora.path == str(adapter) and lora.lora_id == 1
    assert fake_vllm.llm_kwargs["enable_lora"] and fake_vllm.llm_kwargs["max_lora_rank"] == 64
