"""OUT/report.md of the real-data report, from the scores and the stages' results."""

from __future__ import annotations

from pathlib import Path

from cancerllm.experiments.real.config import RealConfig
from cancerllm.experiments.real.scoring import ANCHOR, headline
from cancerllm.io import atomic_write_text, markdown_table_lines


def _cell(d: dict | None) -> str:
    if not d or d.get("macro_f1") is None:
        return "–"
    ci = f" [{d['ci_low']:.1f}, {d['ci_high']:.1f}]" if d.get("ci_low") is not None else ""
    return f"{d['macro_f1']:.1f}{ci}"


def _field_table(result: dict, fields: list[str], key: str = "coarse") -> list[str]:
    any_sys = next(iter(result["systems"].values()))
    ns = [f"n={any_sys['fields'][f]['n']} ({any_sys['fields'][f]['n_reported']} reported)" for f in fields]
    rows = [["*labelled reports*", *ns]]
    for name, s in result["systems"].items():
        rows.append([name, *(_cell(s["fields"][f][key]) for f in fields)])
    return markdown_table_lines(["system", *fields], rows)


def _t14_table(t14: dict) -> list[str]:
    rows = []
    for name, t in t14.items():
        auc = "–" if t.get("auroc") is None else f"{t['auroc']:.3f}" + (
            f" [{t['auroc_ci'][0]:.3f}, {t['auroc_ci'][1]:.3f}]" if t.get("auroc_ci") else "")
        rows.append([name, _cell(t), auc, t["n"]])
    return markdown_table_lines(["system", "T1–T4 macro F1", "macro AUROC (one-vs-rest)", "n"], rows, "lllr")


def _settings_lines(cfg: RealConfig, info: dict) -> list[str]:
    """What each stage was capped to (the CPU budget), from the resolved recipe and stage results."""
    lines = ["## Settings (CPU caps)", ""]
    if cfg.tiny is not None:
        t, h = cfg.tiny, info.get("heads-tiny", {})
        lines.append(f"- tiny base: tokenizer {t.vocab_size} tokens, {t.model.num_hidden_layers} layers × "
                     f"{t.model.hidden_size}, full pre-training on {t.pretrain.max_train_blocks} blocks × "
                     f"{cfg.corpus.block_size} tokens; heads: {t.heads.model.max_chunks} window(s) of "
                     f"{t.heads.model.max_length} tokens, {t.heads.train.num_train_epochs:g} epochs "
                     f"({h.get('global_step')} steps, train loss {_num(h.get('train_loss'))}).")
    if cfg.base:
        h, c = info.get("heads-smollm2", {}), info.get("cpt", {})
        lines.append(f"- SmolLM2 continued pre-training: LoRA r={cfg.pretrain.lora.r if cfg.pretrain.lora else '-'} "
                     f"({cfg.pretrain.lora.target_modules if cfg.pretrain.lora else 'full'}), "
                     f"{c.get('blocks')} blocks × {cfg.corpus.block_size} tokens ({c.get('tokens')} tokens, "
                     f"{100 * c.get('share', 0):.1f} % of the {c.get('corpus_blocks')}-block corpus), "
                     f"{c.get('global_step')} steps; train loss {_num(c.get('train_loss'))}, "
                     f"loss on TCGA dev {_num(c.get('eval_loss'))}.")
        if not cfg.lora_heads:
            lines.append("- SmolLM2 LoRA heads: not run (`lora_heads: false`, the CPU budget); on a GPU, "
                         "`benchmarks/bench_heads_lora_gpu.py` trains them on whole reports.")
        else:
            lines.append(f"- SmolLM2 LoRA heads: LoRA on `{cfg.heads.model.lora.target_modules}`, "
                         f"{cfg.heads.model.max_chunks} window(s) of {cfg.heads.model.max_length} tokens, "
                         f"{cfg.heads.train.num_train_epochs:g} epoch(s) ({h.get('global_step')} steps, "
                         f"train loss {_num(h.get('train_loss'))}).")
        enc = info.get("encode-smollm2")
        if cfg.heads_cached is not None and enc:
            lines.append(f"- heads on cached features: {enc['reports']} reports (train, dev, test) in "
                         f"{enc['windows_kept']} windows of up to {cfg.heads_cached.max_length} tokens; share of report "
                         f"tokens seen {100 * enc['share_tokens_seen']:.1f} % ({enc['reports_cut']} reports cut, "
                         f"{enc['windows_needed'] - enc['windows_kept']} windows dropped; longest report "
                         f"{enc['max_windows_per_report']} windows); first {cfg.heads_cached.encoder_layers} layers.")
            for name in [n for n in info if n.endswith("heads-cached-smollm2") or "heads-cached-evidence" in n]:
                for g in (info.get(name) or {}).get("chosen", []):
                    lines.append(f"  - {name} {'/'.join(g['fields'])}: evidence {g.get('evidence', 'none')}, layer "
                                 f"{g['layer']}, {g['pooling']} pooling, lr {g['lr']:g}, weight decay "
                                 f"{g.get('weight_decay', '–')}, {g['epochs']} epochs (dev macro F1 {g['dev_score']:.1f})")
        if cfg.zero_shot is not None:
            lines.append(f"- zero-shot: {cfg.zero_shot.prompt} prompt, first {cfg.zero_shot.max_context_tokens} "
                         f"tokens of each report, {cfg.zero_shot.limit or 'all'} test reports.")
    p = cfg.perplexity
    lines.append(f"- perplexity: first {p.max_tokens or 'all'} tokens of each test report, window {p.window}, "
                 f"stride {p.stride}, dtype {p.dtype or 'float32'}.")
    return lines + [""]


FIELD_TITLES = {"pT": "T", "pN": "N"}


def _staging_table(head: dict, fields: list[str]) -> list[str]:
    """The one staging table: every system, macro F1 [95 % CI] per field, T1-T4 AUROC, cost."""
    cols = [FIELD_TITLES.get(f, f) for f in fields]
    rows = []
    for key, e in head["systems"].items():
        auc = "–" if e["T_auroc"] is None else f"{e['T_auroc']:.3f}" + (
            f" [{e['T_auroc_ci'][0]:.3f}, {e['T_auroc_ci'][1]:.3f}]" if e.get("T_auroc_ci") else "")
        mem = "–" if e["peak_rss_mb"] is None else f"{e['peak_rss_mb']:.0f}"
        rows.append([key, *(_cell(e[f]) for f in fields), auc, e["n_reports"], f"{e['seconds']:.0f}", mem])
    lines = markdown_table_lines(["system", *cols, "T1–T4 AUROC", "reports", "seconds", "peak RSS (MB)"], rows,
                                 "l" * (len(fields) + 1) + "rrrr")
    any_sys = next(iter(head["systems"].values()), None)
    if any_sys:  # the n row, its cost cells left blank
        lines.insert(2, "| *labelled test reports (n)* | " + " | ".join(str(any_sys[f]["n"]) for f in fields)
                     + " | | | | |")
    return lines


def _confusions(result: dict, fields: list[str]) -> list[str]:
    """Coarse confusion matrices (registry gold) per system for T and N, rows gold."""
    lines = []
    for f in [f for f in ("pT", "pN") if f in fields]:
        for name, s in result["systems"].items():
            conf = s["fields"][f]["coarse"].get("confusion")
            if not conf:
                continue
            labs = conf["labels"]
            lines += [f"{FIELD_TITLES.get(f, f)}, **{name}** (rows gold, columns predicted):", "",
                      *markdown_table_lines(["gold \\ pred", *labs],
                                            ([g, *row] for g, row in zip(labs, conf["matrix"])))]
            lines.append("")
    return lines


def _num(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def write_report(out: Path, cfg: RealConfig, stages: dict, scores: dict, info: dict) -> Path:
    fields = cfg.fields
    reg, men = scores["variants"]["registry"], scores["variants"]["mention"]
    total = sum(s["seconds"] for s in stages.values())
    counts = info["data"]["counts"]
    lines = ["# Real data: TCGA pathology reports, cancer abstracts, SmolLM2-135M", "",
             f"Recipe `{info['recipe']}`; TCGA T14 reports in the package's fixed patient split "
             f"(train {counts['train']}, dev {counts['dev']}, test {counts['test']}); every system is scored on "
             "the **test** split; every setting was chosen on dev (or fixed in the recipe), never on test. Macro "
             "F1 ×100 with 95 % percentile "
             f"bootstrap CIs ({cfg.n_boot} resamples over reports, seed {cfg.seed}).", "",
             f"Total run time {total / 60:.1f} min on this machine (stages below).", ""]
    head = headline(scores, stages, info)
    lines += ["## The staging table", "",
              "Test split, registry gold, coarse macro F1 ×100 [95 % bootstrap CI] per field (NR a class; "
              "n = labelled reports; ER/PR/HER2 on breast reports only), T1–T4 one-vs-rest macro AUROC [CI] "
              "where a system gives probabilities; seconds and peak resident memory of the stages that train "
              "and run the system (peak RSS includes what the process already held). The same numbers are in "
              "`headline.json`. A system with fewer reports ran on a seeded sample: compare it with the other "
              "systems on that sample (below).", "", *_staging_table(head, fields), "",
              f"Published anchor: {ANCHOR} Training sizes differ: our trained systems see the {counts['train']} "
              f"train reports (the classical systems also {counts['dev']} dev reports after choosing their "
              f"settings on them), about a tenth of Kefeli's; their test set is all 1,034 reports, ours the "
              f"{reg['n_reports']} of them in our test split, so our AUROC CI is wide.", ""]
    lines += _settings_lines(cfg, info)
    if info.get("perplexity"):
        rows = [[name, f"{p['perplexity']:.2f}", f"{p['bits_per_byte']:.3f}", p["n_predicted"], p["n_texts"],
                 p["dtype"], f"{p['seconds']:.0f}"] for name, p in info["perplexity"].items()]
        lines += ["## Domain adaptation: perplexity on the TCGA test reports", "",
                  *markdown_table_lines(["model", "perplexity", "bits/byte", "predicted tokens", "texts", "dtype",
                                         "seconds"], rows, "lrrrrlr")]
        lines += ["", "Perplexity per token compares only models sharing a tokenizer (SmolLM2 before/after); "
                  "bits per byte compares the tiny model too.", ""]
    lines += ["## Staging on the TCGA test reports", "",
              "Coarse macro F1 (NR included as a class), per field; n = reports with a registry value "
              "(ER/PR/HER2: breast reports only). Registry gold:", "", *_field_table(reg, fields), "",
              "Mention-aware gold (a field the text never mentions counts as NR; rule in docs/real-data.md):",
              "", *_field_table(men, fields), "",
              "Gold values turned into NR by the mention rule: "
              + ", ".join(f"{f} {n}" for f, n in info["mention_flips"].items()) + ".", "",
              "Reported-only variant (reports whose gold is not NR; NR is not averaged, a predicted NR is a "
              "miss), registry gold:", "", *_field_table(reg, fields, "reported"), ""]
    lines += ["## The anchor: T1–T4", "", ANCHOR, "", *_t14_table(scores["t14"]), "",
              f"How this differs from the anchor: (1) our test set is {reg['n_reports']} of their 1,034 reports and "
              f"our heads train on {counts['train']} of the same 1,034, not on ~8,500 other reports (about 14× less "
              "data); (2) macro F1 counts hard decisions (an abstention - NR, Tis, TX - is a miss) while AUROC "
              "ranks probabilities and is usually much higher than macro F1 for the same model; we give AUROC for "
              f"the systems with probabilities, on {reg['n_reports']} reports, so its CI is wide; (3) "
              "Clinical-BigBird reads 2,048 tokens and was fine-tuned fully; our heads on cached features read "
              "every report whole but through a frozen encoder (its first layers only, settings above), the "
              "classical system reads whole reports as n-grams; (4) the rule-based extractor has no "
              "probabilities and no training.", ""]
    if scores["deltas"]:
        lines += ["Downstream effect (paired bootstrap on the same resamples, T1–T4 macro F1):", ""]
        lines += [f"- {k}: {d['t14_macro_f1']:+.1f} [{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]"
                  for k, d in scores["deltas"].items()]
        lines.append("")
    for part, sub in scores.get("subsets", {}).items():
        r = sub["variants"]["registry"]
        lines += [f"## Every system on the {part} sample (n = {r['n_reports']} test reports)", "",
                  "Registry gold, coarse macro F1:", "", *_field_table(r, fields), "",
                  "Mention-aware gold:", "", *_field_table(sub["variants"]["mention"], fields), "",
                  "T1–T4:", "", *_t14_table(sub["t14"]), ""]
    lines += ["## Confusion matrices (T, N)", "", *_confusions(reg, fields)]
    lines += [f"## Per cancer type (n ≥ {cfg.min_group_n} in the test split)", ""]
    if not scores["by_cancer_type"]:
        lines.append("No cancer type reaches the threshold.")
    for ctype, d in scores["by_cancer_type"].items():
        rows = [[name, _cell(d["t14"][name]), *(_cell(s["fields"][f]["coarse"]) for f in fields)]
                for name, s in d["scores"]["systems"].items()]
        lines += [f"**{ctype}** (n = {d['n']}), registry gold, coarse macro F1; T1–T4 column = Kefeli task:", "",
                  *markdown_table_lines(["system", "T1–T4", *fields], rows), ""]
    small = {k: v for k, v in info["test_types"].items() if v < cfg.min_group_n}
    lines += ["Types below the threshold (test n): " + ", ".join(f"{k} {v}" for k, v in small.items()) + ".", ""]
    lines += ["## Systems", ""] + [f"- **{k}**: {v}" for k, v in info["systems"].items()]
    lines += ["", "## Stages", "", *markdown_table_lines(
        ["stage", "seconds", "peak RSS (MB)"],
        ([k, f"{v['seconds']:.1f}", f"{v['peak_rss_mb']:.0f}"] for k, v in stages.items()), "lrr")]
    lines += [f"| **total** | **{total:.1f}** | |", "",
              "Files: `scores.json` (everything above, with label lists and confusion matrices), "
              "`staging/{registry,mention}/staging_report.md`, `predictions/*.jsonl`, `perplexity/*.json`.", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))
