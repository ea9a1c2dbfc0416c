"""`--quantization 4bit|8bit`: a clear error without CUDA, and the exact config given to transformers."""

from __future__ import annotations

import importlib.machinery
import importlib.util

import pytest
import torch
from typer.testing import CliRunner

from cancerllm.errors import ConfigError
from cancerllm.models import loading
from cancerllm.models.loading import load_causal_lm, quantization_kwargs


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_without_cuda_it_is_a_one_line_config_error(bits):
    assert not torch.cuda.is_available()  # the suite runs on CPU
    with pytest.raises(ConfigError, match=f"--quantization {bits} needs a CUDA GPU") as err:
        quantization_kwargs(bits)
    assert "\n" not in str(err.value)


def test_unknown_or_absent_values():
    assert quantization_kwargs(None) == {} and quantization_kwargs("none") == {}
    with pytest.raises(ConfigError, match="4bit, 8bit"):
        quantization_kwargs("3bit")


@pytest.mark.parametrize("argv", [
    ["eval", "generate", "--task", "phenotype", "--tasks-dir", "T", "--out", "o.jsonl"],
    ["eval", "compare", "--tasks-dir", "T", "--out", "o", "--model", "m=M"],
    ["predict", "--task", "extract", "--input", "i.jsonl", "--output", "o.jsonl"],
    ["serve"],
], ids=["eval-generate", "eval-compare", "predict", "serve"])
def test_every_command_refuses_it_on_cpu_before_reading_anything(argv, tmp_path, monkeypatch):
    """Exit code 2 and one 'error:' line, as for every cancerllm error; no model is read."""
    from cancerllm.cli import app, main
    monkeypatch.chdir(tmp_path)
    model = [] if "compare" in argv else ["--model", str(tmp_path / "no-such-model")]
    monkeypatch.setattr("sys.argv", ["cancerllm", *argv, *model, "--quantization", "4bit"])
    result = CliRunner().invoke(app, [*argv, *model, "--quantization", "4bit"])
    assert isinstance(result.exception, ConfigError), result.output
    assert "needs a CUDA GPU" in str(result.exception)
    with pytest.raises(SystemExit) as code:
        main()
    assert code.value.code == 2


@pytest.fixture
def fake_gpu(monkeypatch):
    """A machine that says it has CUDA (bf16-capable) and bitsandbytes, for config checks only."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
        importlib.machinery.ModuleSpec(name, None) if name == "bitsandbytes" else real(name, *a)))


def test_4bit_is_nf4_double_quant_bf16_compute_on_device_map_auto(fake_gpu):
    kw = quantization_kwargs("4bit")
    assert kw["device_map"] == "auto"
    cfg = kw["quantization_config"].to_dict()
    assert cfg["load_in_4bit"] and not cfg["load_in_8bit"]
    assert cfg["bnb_4bit_quant_type"] == "nf4" and cfg["bnb_4bit_use_double_quant"]
    assert cfg["bnb_4bit_compute_dtype"] == "bfloat16"


def test_8bit_is_llm_int8(fake_gpu):
    cfg = quantization_kwargs("8bit")["quantization_config"].to_dict()
    assert cfg["load_in_8bit"] and not cfg["load_in_4bit"]


def test_a_cpu_device_is_refused_even_with_a_gpu_present(fake_gpu):
    with pytest.raises(ConfigError, match="device 'cpu'"):
        quantization_kwargs("4bit", "cpu")


def test_missing_bitsandbytes_names_the_install(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install bitsandbytes"):
        quantization_kwargs("8bit")


def test_load_causal_lm_passes_the_config_and_leaves_placement_to_device_map(fake_gpu, tiny_model_dir,
                                                                             monkeypatch):
    import transformers
    seen = {}
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(path, **kwargs):
        seen.update(kwargs)
        model = real(path, dtype=torch.float32, local_files_only=True)  # a real load, unquantized
        model.to = lambda *a, **k: pytest.fail("a device_map-placed model must not be moved")
        return model

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    monkeypatch.setattr(loading, "pick_device", lambda device=None: "cuda")
    model, _ = load_causal_lm(tiny_model_dir, quantization="4bit")
    assert seen["device_map"] == "auto" and seen["local_files_only"]
    assert seen["quantization_config"].load_in_4bit and seen["dtype"] == torch.bfloat16
    assert not model.training
