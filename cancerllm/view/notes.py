"""Notes with their extractions highlighted: phenotype values and staging evidence.

Spans may overlap (a tumour site "left breast" holds the laterality "left"), and
overlapping spans cannot all be nested elements, so the note is cut at every span
boundary and each piece covered by at least one span becomes one `<mark>` carrying its
own `data-start`/`data-end` (note character offsets) and the labels of every span over
it. So every highlighted element's text is exactly `note[start:end]` - the property the
browser test checks - and a piece under several spans is outlined.
"""

from __future__ import annotations

from dataclasses import dataclass

from cancerllm.view.page import colour, esc


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str          # entity type or staging field
    value: str          # the extracted value / predicted label
    kind: str = "ent"   # "ent" (coloured by label) or "evidence"


def highlight(text: str, spans: list[Span]) -> str:
    """`text` escaped, with the valid spans (0 <= start < end <= len) marked; others ignored."""
    spans = [s for s in spans if isinstance(s.start, int) and isinstance(s.end, int)
             and 0 <= s.start < s.end <= len(text)]
    cuts = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        over = [s for s in spans if s.start <= a and b <= s.end]
        piece = esc(text[a:b])
        if not over:
            out.append(piece)
            continue
        first = over[0]
        labels = " ".join(dict.fromkeys(s.label for s in over))
        tip = "; ".join(f"{s.label}: {s.value}" for s in over)
        cls = "evidence" if first.kind == "evidence" else "ent"
        style = f' style="background:{colour(first.label)}"' if cls == "ent" else ""
        multi = " multi" if len(over) > 1 else ""
        out.append(f'<mark class="{cls}{multi}" data-start="{a}" data-end="{b}" data-labels="{esc(labels)}"'
                   f'{style} title="{esc(tip)}">{piece}</mark>')
    return f'<pre class="note">{"".join(out)}</pre>'


def extraction_card(note_id: str, text: str | None, result: dict) -> str:
    """One note: its text with every grounded phenotype value marked, then a value list
    where values the model wrote but the note does not contain are flagged."""
    spans, rows = [], []
    for etype, values in (result.get("phenotypes") or {}).items():
        for v in values or []:
            for sp in v.get("spans") or []:
                spans.append(Span(sp.get("start"), sp.get("end"), etype, str(v.get("value", ""))))
            flag = ("" if v.get("grounded") else ' <span class="ungrounded" title="the value is not in the note: '
                    'a likely hallucination">&#9888; not in note</span>')
            rows.append(f'<tr><td><span style="background:{colour(etype)}">&nbsp;&nbsp;</span> {esc(etype)}</td>'
                        f'<td>{esc(v.get("value", ""))}{flag}</td><td class="num">{len(v.get("spans") or [])}</td></tr>')
    n_ungrounded = sum(1 for vs in (result.get("phenotypes") or {}).values() for v in vs or []
                       if not v.get("grounded"))
    body = highlight(text, spans) if text is not None else '<p class="muted">(note text not given)</p>'
    table = ("<table><thead><tr><th>entity type</th><th>value</th><th>occurrences</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>" if rows else '<p class="muted">no phenotype found</p>')
    warn = f' <span class="ungrounded">{n_ungrounded} ungrounded</span>' if n_ungrounded else ""
    return (f'<div class="card extraction" data-id="{esc(note_id)}"><h3>{esc(note_id)}{warn}</h3>'
            f"{body}{table}</div>")


def _prob_bars(probs: dict) -> str:
    top = sorted(probs.items(), key=lambda kv: -kv[1])[:4]
    return "<br>".join(f'<span class="bar" style="width:{max(1, round(60 * p))}px"></span>{esc(k)} {p:.2f}'
                       for k, p in top)


def staging_fields(record: dict) -> dict[str, dict]:
    """{field: {"label", "probs"?, "start"?, "end"?, "rule"?, "gold"?}} from any of the shapes
    the toolkit writes: rule-based (`labels` + `evidence`), predictor rows ({field: {label,
    probs}}), or `eval heads` predictions (`gold` + `pred`)."""
    from cancerllm.schema.staging import FIELDS
    out: dict[str, dict] = {}
    evidence = record.get("evidence") or {}
    labels = record.get("labels") if isinstance(record.get("labels"), dict) else {}
    pred = record.get("pred") if isinstance(record.get("pred"), dict) else {}
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else record
    gold = record.get("gold") if isinstance(record.get("gold"), dict) else {}
    for f in FIELDS:
        entry: dict = {}
        if isinstance(fields.get(f), dict):
            entry.update({k: fields[f][k] for k in ("label", "probs") if k in fields[f]})
        if f in evidence and isinstance(evidence[f], dict):
            entry.update({k: evidence[f].get(k) for k in ("label", "start", "end", "rule")})
        if f in labels and "label" not in entry:
            entry["label"] = labels[f]
        if f in pred:
            entry["label"] = pred[f]
        if f in gold:
            entry["gold"] = gold[f]
        if isinstance((record.get("probs") or {}).get(f), dict):
            entry["probs"] = record["probs"][f]
        if entry:
            out[f] = entry
    return out


def staging_card(report_id: str, text: str | None, record: dict) -> str:
    """One report: evidence spans marked in its text, then per field label, gold, rule, probabilities."""
    fields = staging_fields(record)
    spans = [Span(d["start"], d["end"], f, str(d.get("label")), kind="evidence")
             for f, d in fields.items() if d.get("start") is not None]
    rows = []
    for f, d in fields.items():
        where = (f'<span class="muted">{d["start"]}-{d["end"]}</span> {esc(text[d["start"]:d["end"]])}'
                 if text is not None and d.get("start") is not None else "")
        gold = d.get("gold")
        mark = "" if gold is None else (" &#10003;" if gold == d.get("label") else " &#10007;")
        rows.append(f"<tr><td>{esc(f)}</td><td>{esc(d.get('label', ''))}{mark}</td><td>{esc('' if gold is None else gold)}</td>"
                    f"<td>{where}</td><td>{esc(d.get('rule') or '')}</td>"
                    f"<td>{_prob_bars(d['probs']) if isinstance(d.get('probs'), dict) else ''}</td></tr>")
    body = highlight(text, spans) if text is not None else '<p class="muted">(report text not given)</p>'
    return (f'<div class="card staging" data-id="{esc(report_id)}"><h3>{esc(report_id)}</h3>{body}'
            "<table><thead><tr><th>field</th><th>predicted</th><th>gold</th><th>evidence</th><th>rule</th>"
            f"<th>probabilities</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
