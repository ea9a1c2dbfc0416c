"""The HTML page shell: inline CSS and JS, a strict Content-Security-Policy, escaping helpers.

Why so strict: the page is meant to be opened from disk on a hospital workstation and
mailed around, and it holds note text. So it loads nothing (no CDN, no font, no remote
image: `default-src 'none'`, images only as `data:` URIs), and scripts run only if they
carry the page's random nonce. Note text is always escaped by `esc`; even if some text
slipped through unescaped, a `<script>` in it would have no nonce and an inline event
handler (`onerror=...`) is not allowed by the policy, so nothing in a note can run.
"""

from __future__ import annotations

import html
import secrets

# One colour per phenotype entity type (ColorBrewer "Set3"-like pastels, readable under text).
ENTITY_COLOURS = {
    "hormone_receptor_type": "#8dd3c7", "hormone_receptor_status": "#ffffb3",
    "tumor_size": "#bebada", "tumor_site": "#fb8072", "cancer_grade": "#80b1d3",
    "histological_type": "#fdb462", "tumor_laterality": "#b3de69", "cancer_stage": "#fccde5",
}
FALLBACK_COLOUR = "#d9d9d9"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#23395d;color:#fff;padding:.8em 1.5em}
header h1{margin:0;font-size:1.3em} header p{margin:.2em 0 0;font-size:.85em;opacity:.85}
nav{padding:.4em 1.5em;background:#e8ecf3;font-size:.9em} nav a{margin-right:1.2em}
main{padding:0 1.5em 2em;max-width:1400px}
section{margin-top:1.5em}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em}
pre.note{white-space:pre-wrap;word-wrap:break-word;background:#fff;border:1px solid #ddd;padding:.8em;
 font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;line-height:1.5}
mark.ent{border-radius:3px;padding:0 1px;color:#000}
mark.multi{outline:2px dotted #555}
mark.evidence{background:#ffe08a;border-bottom:2px solid #c58b00}
.legend span{display:inline-block;margin:0 .6em .3em 0;padding:0 .4em;border-radius:3px;font-size:.85em}
.card{background:#fff;border:1px solid #ddd;border-radius:4px;padding:.6em 1em;margin:1em 0}
.card h3{margin:.2em 0 .5em;font-size:1em}
.ungrounded{color:#a40000;font-weight:600}
table{border-collapse:collapse;font-size:.85em;background:#fff}
th,td{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#eef1f6;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.txt{max-width:32em;white-space:pre-wrap;word-wrap:break-word}
tr.correct td.cat{color:#1b7a1b} tr.wrong td.cat{color:#a40000}
.filters{margin:.6em 0;display:flex;gap:1em;flex-wrap:wrap;align-items:center;font-size:.9em}
.bar{display:inline-block;height:.7em;background:#5b8bd0;vertical-align:middle;margin-right:.3em}
img.fig{max-width:100%;border:1px solid #ddd;background:#fff;margin:.5em 0}
.md table{margin:.5em 0}
.muted{color:#666;font-size:.85em}
"""

# Table filtering: each <tr> carries data-task/-model/-category; selects narrow the rows.
FILTER_JS = """
document.querySelectorAll('table.filterable').forEach(function(table){
  var box = document.getElementById(table.dataset.filters);
  if(!box) return;
  var selects = box.querySelectorAll('select'), search = box.querySelector('input');
  var counter = box.querySelector('.count');
  function apply(){
    var shown = 0, q = search ? search.value.toLowerCase() : '';
    table.querySelectorAll('tbody tr').forEach(function(tr){
      var ok = true;
      selects.forEach(function(s){ if(s.value && tr.dataset[s.name] !== s.value) ok = false; });
      if(ok && q && tr.textContent.toLowerCase().indexOf(q) < 0) ok = false;
      tr.hidden = !ok; if(ok) shown++;
    });
    if(counter) counter.textContent = shown + ' rows';
  }
  selects.forEach(function(s){ s.addEventListener('change', apply); });
  if(search) search.addEventListener('input', apply);
  apply();
});
"""


def esc(text: object) -> str:
    """HTML-escape text, keeping every character: a CR becomes `&#13;` because the HTML
    parser would otherwise fold CRLF to LF and shift the offsets the page shows."""
    return html.escape(str(text), quote=True).replace("\r", "&#13;")


def colour(entity_type: str) -> str:
    return ENTITY_COLOURS.get(entity_type, FALLBACK_COLOUR)


def legend(types: list[str]) -> str:
    items = "".join(f'<span style="background:{colour(t)}">{esc(t)}</span>' for t in types)
    return f'<div class="legend">{items}</div>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole HTML document; `sections` are (anchor id, heading, HTML body)."""
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
           "base-uri 'none'; form-action 'none'")
    nav = "".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{esc(a)}"><h2>{esc(h)}</h2>{b}</section>' for a, h, b in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main>"
            f'<script nonce="{nonce}">{FILTER_JS}</script></body></html>\n')


def filter_bar(filters_id: str, options: dict[str, list[str]]) -> str:
    """Selects (one per data attribute: task, model, category) and a free-text search."""
    parts = []
    for name, values in options.items():
        opts = '<option value="">all</option>' + "".join(
            f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        parts.append(f'<label>{esc(name)} <select name="{esc(name)}">{opts}</select></label>')
    parts.append('<label>search <input type="search" placeholder="text in any cell"></label>'
                 '<span class="count muted"></span>')
    return f'<div class="filters" id="{esc(filters_id)}">{"".join(parts)}</div>'
