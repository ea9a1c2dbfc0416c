"""A folder that is not a model is refused in one line, before any library runs."""

from __future__ import annotations

import pytest
from cancerllm.errors import InputError
from cancerllm.offline import local_model_dir


@pytest.fixture
def not_a_model(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "notes.jsonl").write_text('{"id": 1, "text": "x"}\n')
    return d


def test_cli_says_it_in_one_line(not_a_model, monkeypatch, capsys):
    from cancerllm.cli import main
    monkeypatch.setattr("sys.argv", ["cancerllm", "extract", "--model", str(not_a_model), "--text", "ER positive."])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "is not a Hugging Face model folder" in lines[0], err


def test_each_kind_needs_its_files(not_a_model, tiny_model_dir):
    with pytest.raises(InputError, match="adapter_config.json"):
        local_model_dir(tiny_model_dir, "adapter")        # a model is not an adapter
    with pytest.raises(InputError, match="heads_config.json"):
        local_model_dir(not_a_model, "heads model")
    assert local_model_dir(tiny_model_dir) == tiny_model_dir.resolve()
    assert local_model_dir(tiny_model_dir, "tokenizer") == tiny_model_dir.resolve()
