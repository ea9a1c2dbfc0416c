"""Offline by design: whole stages run in a process whose network calls all fail.

A `sitecustomize.py` on PYTHONPATH replaces socket connect / create_connection /
getaddrinfo before anything else is imported; each attempt is logged to a file and
raises. The stages must succeed and the log must stay empty. The Hugging Face offline
variables are removed from the child's environment, so what keeps `datasets` and
`transformers` quiet is cancerllm itself (cancerllm/offline.py sets them at import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cancerllm.errors import OfflineError
from cancerllm.offline import OFFLINE_ENV, local_model_dir

GUARD = textwrap.dedent('''
    import os, socket, traceback
    _LOG = os.environ["NETGUARD_LOG"]

    def _refuse(what):
        def refuse(*args, **kwargs):
            target = args[1] if what == "connect" and len(args) > 1 else (args[0] if args else None)
            if what == "connect" and getattr(args[0], "family", None) == socket.AF_UNIX:
                return _real_connect(*args, **kwargs)          # local IPC (multiprocessing) is fine
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"{what} {target!r}\\n" + "".join(traceback.format_stack(limit=8)) + "\\n")
            raise OSError(f"network disabled by test guard: {what}")
        return refuse

    _real_connect = socket.socket.connect
    socket.socket.connect = _refuse("connect")
    socket.socket.connect_ex = _refuse("connect")
    socket.create_connection = _refuse("create_connection")
    socket.getaddrinfo = _refuse("getaddrinfo")
''')

DRIVER = textwrap.dedent('''
    import socket
    assert socket.getaddrinfo.__name__ == "refuse", "network guard not installed"
    from cancerllm.cli import app
    for args in {commands!r}:
        app(args, standalone_mode=False)
    print("STAGES OK")
''')


@pytest.mark.parametrize("user_env", ["unset", "set to 0"])
def test_stages_run_with_the_network_disabled(tmp_path, tiny_tokenizer_dir, user_env):
    """With the offline variables unset, and with the user's shell saying "online" (0):
    cancerllm's own settings must win either way."""
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "network_attempts.log"
    synth, tasks, clean, corpus = (tmp_path / n for n in ("synth", "tasks", "deid.jsonl", "corpus"))
    commands = [
        ["data", "synth", "--out", str(synth), "--patients", "12"],
        ["data", "deid", "--in", str(synth / "notes.jsonl"), "--out", str(clean), "--date-shift-seed", "k"],
        ["data", "tasks", "--in", str(synth), "--out", str(tasks), "--tasks", "diagnosis"],
        ["data", "corpus", str(clean), "--out", str(corpus), "--tokenizer", str(tiny_tokenizer_dir),
         "--set", "block_size=64"],
    ]
    if user_env == "set to 0":
        del commands[1]  # deid makes no HF call; keep this variant short
        commands[-1][2] = str(synth / "notes.jsonl")
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV and not k.startswith(("HF_", "TRANSFORMERS_"))}
    if user_env == "set to 0":
        env.update({k: "0" for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")},
                   HF_UPDATE_DOWNLOAD_COUNTS="1", HF_HUB_DISABLE_TELEMETRY="0")
    env.update(PYTHONPATH=os.pathsep.join([str(guard_dir), str(Path(__file__).resolve().parents[1])]),
               NETGUARD_LOG=str(log), HF_HOME=str(tmp_path / "hf_home"))
    proc = subprocess.run([sys.executable, "-c", DRIVER.format(commands=commands)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    attempts = log.read_text(encoding="utf-8") if log.exists() else ""
    assert attempts == "", f"network attempted:\n{attempts}"
    assert proc.returncode == 0 and "STAGES OK" in proc.stdout, proc.stderr[-3000:]
    assert (tasks / "diagnosis" / "hf").is_dir()
    summary = json.loads((corpus / "corpus.json").read_text(encoding="utf-8"))
    assert summary["packed"]["blocks"]["train"] > 0
    # Outputs holding note text are private: cleaned corpus, task JSONL and Arrow files.
    private = [corpus / "clean" / "train.jsonl", tasks / "diagnosis" / "train.jsonl",
               *(p for p in (tasks / "diagnosis" / "hf").rglob("*") if p.is_file()),
               *(p for p in (corpus / "packed").rglob("*") if p.is_file())]
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in private} == {str(p): "0o600" for p in private}


def test_the_guard_really_blocks(tmp_path):
    """The same guard catches a plain connection attempt (so an empty log means something)."""
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "log"
    code = "import socket\ntry:\n    socket.create_connection(('example.org', 80), timeout=1)\nexcept OSError as e:\n    print(e)"
    env = dict(os.environ, PYTHONPATH=str(guard_dir), NETGUARD_LOG=str(log))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "network disabled by test guard" in out.stdout
    assert "example.org" in log.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["mistralai/Mistral-7B-v0.1", "meta-llama/Meta-Llama-3-8B"])
def test_hub_names_are_refused(name):
    with pytest.raises(OfflineError, match="offline"):
        local_model_dir(name)


@pytest.mark.parametrize("user", [None, "0"])
def test_offline_switches_are_set_at_import(user):
    code = "import os, cancerllm; print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('HF_DATASETS_OFFLINE'))"
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    if user is not None:  # the user's shell says online: cancerllm still wins
        env.update(HF_HUB_OFFLINE=user, HF_DATASETS_OFFLINE=user)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["1", "1"], out.stderr
