"""Scores of every system on the TCGA test split: per gold variant, the Kefeli T1-T4
anchor, per cancer type, paired deltas; `headline` makes headline.json of them."""

from __future__ import annotations

from collections import Counter

from cancerllm.schema.staging import KEFELI_T_CLASSES, NR, to_coarse

ANCHOR = ("Kefeli et al. (Nat Commun 2024) report macro AUROC 0.945 for T1-T4 with Clinical-BigBird on these "
          "same 1,034 reports (their held-out test set), trained on ~8,500 other TCGA reports.")


def t14_scores(gold: list[str | None], pred: list[str], probs: list[dict | None] | None, weights) -> dict:
    """Kefeli's task: macro F1 over exactly T1-T4 (an NR/Tis/TX prediction is a miss), and
    one-vs-rest macro AUROC from the T1-T4 probabilities when a system has them."""
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    from cancerllm.evaluate.staging_report import bootstrap_macro_f1
    coarse = [to_coarse("pT", g) if g is not None else None for g in gold]  # T1b, T4a ... -> T1, T4
    rows = [i for i, g in enumerate(coarse) if g in KEFELI_T_CLASSES]
    g = [coarse[i] for i in rows]
    p = [to_coarse("pT", pred[i]) for i in rows]
    w = weights[:, rows]
    # Classes of T1-T4 present in gold or prediction (a subset may lack T4), as in the bootstrap.
    present = [c for c in KEFELI_T_CLASSES if c in set(g) | set(p)]
    out = {"n": len(rows), "labels": present,
           "macro_f1": 100 * float(f1_score(g, p, labels=present, average="macro", zero_division=0))}
    boots = bootstrap_macro_f1(g, p, present, w)
    out["ci_low"], out["ci_high"] = float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))
    out["_boots"] = boots
    if probs is not None and all(probs[i] for i in rows):
        mat = np.array([[sum(v for k, v in probs[i].items() if k != NR and to_coarse("pT", k) == c)
                         for c in KEFELI_T_CLASSES] for i in rows])
        mat = mat / np.clip(mat.sum(1, keepdims=True), 1e-12, None)
        y = np.array([KEFELI_T_CLASSES.index(x) for x in g])
        out["auroc"] = None
        if len(set(y)) == 4:  # one-vs-rest AUROC needs every class in the gold
            out["auroc"] = float(roc_auc_score(y, mat, multi_class="ovr", average="macro", labels=[0, 1, 2, 3]))
        aucs = []
        for counts in w if out["auroc"] is not None else []:
            idx = np.repeat(np.arange(len(rows)), counts.astype(int))
            if len(set(y[idx])) == 4:
                aucs.append(roc_auc_score(y[idx], mat[idx], multi_class="ovr", average="macro", labels=[0, 1, 2, 3]))
        if aucs:
            out["auroc_ci"] = [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))]
    return out


def score_all(test: list[dict], gold_variants: dict[str, list[dict]], systems: dict[str, list[dict]],
              fields: list[str], n_boot: int, seed: int, min_group_n: int) -> dict:
    """Scores per gold variant (score_systems), the T1-T4 anchor, per cancer type, paired deltas."""
    import numpy as np

    from cancerllm.evaluate.staging_report import score_systems
    # Prediction rows are {field: {"label", "probs"?}}; a field a system did not predict is NR.
    labels = {s: [{f: (p.get(f) or {}).get("label", NR) for f in fields} for p in preds]
              for s, preds in systems.items()}
    t_probs = {s: [(p.get("pT") or {}).get("probs") for p in preds] for s, preds in systems.items()}
    result: dict = {"variants": {}, "t14": {}, "by_cancer_type": {}, "deltas": {}}
    for variant, gold in gold_variants.items():
        result["variants"][variant] = score_systems(gold, labels, fields=fields, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed)
    n = len(test)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    gold_t = [g.get("pT") for g in gold_variants["registry"]]
    for s in systems:
        probs = t_probs[s] if any(t_probs[s]) else None
        result["t14"][s] = t14_scores(gold_t, [x["pT"] for x in labels[s]], probs, weights)
    pairs = [("heads-smollm2", "heads-smollm2-cpt"), ("heads-tiny", "heads-smollm2")]
    for a, b in pairs:
        if a in result["t14"] and b in result["t14"]:
            diff = result["t14"][b]["_boots"] - result["t14"][a]["_boots"]
            result["deltas"][f"{b} - {a}"] = {
                "t14_macro_f1": result["t14"][b]["macro_f1"] - result["t14"][a]["macro_f1"],
                "ci_low": float(np.percentile(diff, 2.5)), "ci_high": float(np.percentile(diff, 97.5))}
    for s in result["t14"]:
        result["t14"][s].pop("_boots")
    types = Counter(r["cancer_type"] for r in test)
    for ctype, count in sorted(types.items(), key=lambda kv: -kv[1]):
        if count < min_group_n:
            continue
        rows = [i for i, r in enumerate(test) if r["cancer_type"] == ctype]
        sub_gold = [gold_variants["registry"][i] for i in rows]
        sub = score_systems(sub_gold, {s: [labels[s][i] for i in rows] for s in systems}, fields=fields,
                            n_boot=n_boot, seed=seed)
        sub_w = np.random.default_rng(seed).multinomial(len(rows), np.full(len(rows), 1.0 / len(rows)),
                                                         size=n_boot).astype(float)
        t14 = {s: t14_scores([gold_t[i] for i in rows], [labels[s][i]["pT"] for i in rows],
                             [t_probs[s][i] for i in rows] if any(t_probs[s]) else None, sub_w)
               for s in systems}
        for v in t14.values():
            v.pop("_boots")
        result["by_cancer_type"][ctype] = {"n": count, "t14": t14, "scores": sub}
    return result


# A system's name in this run -> its key in headline.json (the issue's names; the heads'
# mode is the suffix: lora = LoRA-tuned encoder, cached = frozen encoder, cached features).
HEADLINE_KEYS = {"rules": "rules", "cancer_type_prior": "cancer_type_prior", "classical": "classical",
                 "zero-shot-smollm2": "zero_shot", "heads-smollm2": "multitask_heads_lora",
                 "heads-smollm2-cpt": "multitask_heads_lora_cpt", "heads-tiny": "multitask_heads_lora_tiny",
                 "heads-cached-smollm2": "multitask_heads_cached",
                 "single-heads-cached-smollm2": "single_task_heads_cached",
                 "heads-cached-evidence-smollm2": "multitask_heads_cached_evidence",
                 "single-heads-cached-evidence-smollm2": "single_task_heads_cached_evidence"}
# Stages a system needs besides its own (`NAME`) and its prediction stage (`predict-NAME`).
SHARED_STAGES = {name: ["encode-smollm2"] for name in HEADLINE_KEYS if "heads-cached" in name}


def system_cost(name: str, stages: dict) -> dict:
    """Seconds and peak RSS (MB) of the stages that make a system (training + prediction)."""
    own = [s for s in (name, f"predict-{name}", *SHARED_STAGES.get(name, [])) if s in stages]
    peaks = [(stages[s].get("result") or {}).get("rss_peak_mb") or stages[s].get("peak_rss_mb") for s in own]
    return {"stages": own, "seconds": round(sum(stages[s]["seconds"] for s in own), 1),
            "peak_rss_mb": max((p for p in peaks if p is not None), default=None)}


def headline(scores: dict, stages: dict, info: dict) -> dict:
    """runs/real/headline.json: per system, per field {macro_f1, ci_low, ci_high, n} (coarse,
    registry gold, test split), T_auroc (T1-T4 one-vs-rest macro), seconds and peak RSS.

    A system run on a sample (zero-shot) is scored on that sample: `n_reports` says so.
    """
    reg = scores["variants"]["registry"]
    out = {"split": "test", "gold": "registry", "metric": reg["metric"], "ci": reg["ci"], "n_boot": reg["n_boot"],
           "anchor": {"system": "Kefeli et al. Clinical-BigBird", "T_auroc": 0.945, "note": ANCHOR}, "systems": {}}
    for name in info["systems"]:
        if name in reg["systems"]:
            res, t14, n_rep = reg, scores["t14"][name], reg["n_reports"]
        elif name in scores.get("subsets", {}):
            sub = scores["subsets"][name]
            res, t14, n_rep = sub["variants"]["registry"], sub["t14"][name], sub["variants"]["registry"]["n_reports"]
        else:
            continue
        fields = res["systems"][name]["fields"]
        entry = {f: {k: d["coarse"][k] for k in ("macro_f1", "ci_low", "ci_high", "n")} for f, d in fields.items()}
        entry.update({"T_auroc": t14.get("auroc"), "T_auroc_ci": t14.get("auroc_ci"), "T14_macro_f1": t14["macro_f1"],
                      "n_reports": n_rep, **system_cost(name, stages), "run_name": name})
        out["systems"][HEADLINE_KEYS.get(name, name)] = entry
    return out
