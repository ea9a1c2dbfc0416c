"""Run every benchmark, then rebuild benchmarks/README.md from their result files.

Each benchmark is `benchmarks/bench_<name>.py`, run as its own subprocess (`python
benchmarks/bench_<name>.py`, whose `__main__` calls its `main()`) with a timeout; it writes
`benchmarks/results/<name>.json`. A missing script, a failure or a timeout is recorded
with the tail of its output and shown in the README - never hidden. The README is rebuilt
from the JSON files alone: the hand-written text above the marker line is kept, everything
below it is generated (date, machine, one section per result file).

    python benchmarks/run_all.py                 # everything (./run bench)
    python benchmarks/run_all.py --only mfu,memory
    python benchmarks/run_all.py --smoke         # reduced sizes, results in results/smoke/
    python benchmarks/run_all.py --readme-only   # rebuild the README from existing results

`--smoke` sets CANCERLLM_BENCH_SMOKE=1 and CANCERLLM_BENCH_RESULTS=benchmarks/results/smoke
(so real figures are never overwritten); a benchmark whose script never mentions a smoke
mode is skipped there, since it would run at full size. The smoke README goes to
results/smoke/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import common
from common import RESULTS_DIR, machine_info, machine_label, now_iso

BENCH_DIR = Path(__file__).resolve().parent
README = BENCH_DIR / "README.md"
MARKER = "<!-- run_all.py: everything below this line is generated from results/*.json; edit above it -->"
ORDER = ("scoring", "generation", "training", "cpu_defaults", "mfu", "memory", "scaling", "gpu_7b")
DEFAULT_PREAMBLE = """# Benchmarks

Speed and memory of cancerllm's own paths against the plain Hugging Face ones, measured by
the scripts in this folder. Run them all with `./run bench` (or `python
benchmarks/run_all.py`; `--only NAME`, `--smoke`); each writes `results/<name>.json` and
this page is rebuilt from those files, so every figure below was measured by a script, on
the machine named with it. Timings on a shared machine are noisy: compare figures taken
on the same machine only.
"""


# ---------------------------------------------------------------- running


def discover() -> list[str]:
    """Benchmark names: the known order first, then any other bench_*.py found."""
    found = {p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py")}
    return [n for n in ORDER] + sorted(found - set(ORDER))


def run_one(name: str, smoke: bool, timeout: int, results: Path) -> dict:
    script = BENCH_DIR / f"bench_{name}.py"
    rec = {"benchmark": name, "script": script.name, "started": now_iso(), "smoke": smoke}
    if not script.exists():
        return {**rec, "status": "missing (no script)", "seconds": 0}
    if smoke and "smoke" not in script.read_text(encoding="utf-8"):
        return {**rec, "status": "skipped: the script has no smoke mode", "seconds": 0}
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    if smoke:
        env.update({common.SMOKE_ENV: "1", common.RESULTS_ENV: str(results)})
    print(f"[run_all] {name} ...", flush=True)
    t0 = time.perf_counter()
    # Its own process group, so a timeout also ends the processes the benchmark started.
    proc = subprocess.Popen([sys.executable, str(script)], cwd=common.ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        status = f"timed out after {timeout} s"
    output = output or ""
    rec.update(status=status, seconds=round(time.perf_counter() - t0, 1))
    if status != "ok":  # the whole output goes to a log; its tail to the README
        rec["output_tail"] = output.strip().splitlines()[-15:]
        log = results / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output, encoding="utf-8")
        rec["log"] = str(log.relative_to(common.ROOT)) if log.is_relative_to(common.ROOT) else str(log)
    print(f"[run_all] {name}: {status} in {rec['seconds']} s", flush=True)
    return rec


# ---------------------------------------------------------------- the README


def _cell(v) -> str:
    if v is None or v == "":
        return "–" if v is None else ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        s = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    elif isinstance(v, int):
        s = f"{v:,}"
    elif isinstance(v, (list, dict)):
        s = json.dumps(v, ensure_ascii=False)
    else:
        s = str(v)
    return s.replace("|", "\\|").replace("\n", " ")


def md_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return lines


def kv_table(d: dict) -> list[str]:
    return md_table([{"figure": k, "value": v} for k, v in d.items()])


def _flatten(d: dict, prefix: str = "", depth: int = 0) -> tuple[dict, dict]:
    """(scalars with dotted keys, {key: list of dicts}) of a result of any shape."""
    scalars, tables = {}, {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 3:
            s, t = _flatten(v, f"{key}.", depth + 1)
            scalars.update(s)
            tables.update(t)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            tables[key] = v
        else:
            scalars[key] = v
    return scalars, tables


SKIP_KEYS = {"benchmark", "title", "date", "machine", "summary", "tables", "notes", "smoke"}


def section(name: str, res: dict, here: dict, run: dict | None) -> list[str]:
    title = res.get("title") or res.get("benchmark") or name
    out = [f"## {title}", ""]
    machine = res.get("machine") or {}
    where = machine_label(machine) if "cpu_model" in machine else ", ".join(
        f"{k} {v}" for k, v in machine.items())
    same = "cpu_model" not in machine or (  # an older result names no CPU: make no claim
        machine.get("cpu_model") == here.get("cpu_model") and machine.get("gpu") == here.get("gpu"))
    out.append(f"`results/{name}.json` - measured {res.get('date', '?')}"
               f"{' (smoke size)' if res.get('smoke') else ''} on {where or 'an unrecorded machine'}"
               f"{'' if same else ' (not this machine)'}.")
    if run is not None and run.get("status") != "ok":
        out.append(f"\n**Last run: {run['status']}** ({run.get('started', '?')}); the figures below "
                   "are from the last successful run shown by the date above.")
    out.append("")
    if res.get("status") and "summary" not in res:
        out += [f"Status: {res['status']}", ""]
    if res.get("summary"):
        out += kv_table(res["summary"]) + [""]
    for t_title, rows in (res.get("tables") or {}).items():
        out += [f"**{t_title}**", ""] + md_table(rows) + [""]
    skip = SKIP_KEYS | ({"status"} if res.get("summary") else set())
    scalars, tables = _flatten({k: v for k, v in res.items() if k not in skip})
    if scalars:
        out += kv_table(scalars) + [""]
    for t_title, rows in tables.items():
        out += [f"**{t_title}**", ""] + md_table(rows) + [""]
    for note in res.get("notes") or []:
        out.append(f"- {note}")
    return out + [""]


def build_readme(results: Path, readme: Path, runs: dict[str, dict]) -> str:
    here = machine_info()
    preamble = DEFAULT_PREAMBLE
    for source in (readme, README):  # this README's own preamble, else the main one's
        text = source.read_text(encoding="utf-8") if source.exists() else ""
        if MARKER in text:
            preamble = text.split(MARKER)[0]
            break
    files = {p.stem: p for p in results.glob("*.json") if p.stem != "run_all"}
    names = [n for n in ORDER if n in files] + sorted(set(files) - set(ORDER))
    lines = [preamble.rstrip(), "", MARKER, "",
             f"Generated {now_iso()} by `python benchmarks/run_all.py` on {machine_label(here)}.", "",
             "| benchmark | last run | seconds | result measured |", "|---|---|---|---|"]
    for name in dict.fromkeys([*ORDER, *runs, *names]):
        run = runs.get(name) or {}
        if not run and name not in files:
            continue
        measured = _load(files[name]).get("date", "?") if name in files else "no result file"
        lines.append(f"| {name} | {_cell(run.get('status', 'not run'))} ({run.get('started', '-')}) | "
                     f"{_cell(run.get('seconds'))} | {measured} |")
    lines.append("")
    for name in names:
        lines += section(name, _load(files[name]), here, runs.get(name))
    failed = {n: r for n, r in runs.items() if r.get("output_tail")}
    if failed:
        lines += ["## Failures (tail of the output)", ""]
        for n, r in failed.items():
            lines += [f"**{n}**: {r['status']}", "", "```", *r["output_tail"], "```", ""]
    text = "\n".join(lines).rstrip() + "\n"
    readme.parent.mkdir(parents=True, exist_ok=True)
    readme.write_text(text, encoding="utf-8")
    return text


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return {"benchmark": path.stem, "status": f"unreadable result file: {exc}"}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=None, help="comma list of benchmark names (e.g. mfu,scaling)")
    ap.add_argument("--smoke", action="store_true", help="reduced sizes; results/smoke/, own README")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per benchmark (default 900)")
    ap.add_argument("--readme-only", action="store_true", help="only rebuild the README")
    ap.add_argument("--list", action="store_true", help="print the benchmark names and exit")
    a = ap.parse_args(argv)
    names = discover()
    if a.list:
        print("\n".join(names))
        return {}
    if a.only:
        wanted = [n.strip().removeprefix("bench_") for n in a.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = wanted
    results = RESULTS_DIR / "smoke" if a.smoke else RESULTS_DIR
    results.mkdir(parents=True, exist_ok=True)
    index_path = results / "run_all.json"
    index = _load(index_path).get("runs", {}) if index_path.exists() else {}
    index = {n: r for n, r in index.items() if n in discover()}  # scripts since removed drop out
    if not a.readme_only:
        for name in names:
            index[name] = run_one(name, a.smoke, a.timeout, results)
            common.write_result({"benchmark": "run_all", "date": now_iso(), "runs": index}, index_path)
    readme = results / "README.md" if a.smoke else README
    build_readme(results, readme, index)
    print(f"README: {readme}")
    bad = [n for n in names if not a.readme_only and index[n]["status"] not in ("ok",)
           and not index[n]["status"].startswith(("skipped", "missing"))]
    if bad:
        print(f"[run_all] not ok: {', '.join(bad)} (see the README and results/logs/)", flush=True)
    return index


if __name__ == "__main__":
    main()
