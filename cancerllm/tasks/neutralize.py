"""Header neutralisation for prompt text: note text must never open a prompt section.

The prompt template (`cancerllm.tasks.prompts`) marks its sections with lines that begin
"### Instruction:", "### Context:" and "### Response:". A note may contain such a line,
and not only in plain ASCII: a no-break space, a zero-width space, a byte-order mark or a
soft hyphen before "###" is invisible on screen, and a fullwidth "＃" becomes "#" under
Unicode NFKC normalisation (which some tokenizers apply). `neutralize_headers` cuts to
"##" every run of three or more hash signs that begins a line, where

- a line begins at the start of the text or after any line break Python's
  `str.splitlines` knows ("\\n", "\\r", "\\v", "\\f", "\\x1c"-"\\x1e", "\\x85", U+2028, U+2029);
- before the run there may be any mix of spaces and tabs of every kind (Unicode Zs),
  format characters (Cf: zero-width space and joiners, word joiner, BOM, soft hyphen,
  bidi marks ...) and other control characters;
- a hash sign is "#" or one of its NFKC look-alikes ("＃" U+FF03, "﹟" U+FE5F), and format
  or control characters between the hash signs do not break the run ("#\\u200b##" is a
  run of three).

Only the hash run changes (to "##"); the characters before it and everything else stay,
so the note reads the same and offsets before the run do not move. Hash signs inside a
line ("C# ### x") and runs of one or two are untouched. The character classes are built
from `unicodedata` once per process (about 0.2 s), so they follow the Python's Unicode
version, not a hand-kept list.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
HASHES = "#\uff03\ufe5f"   # "#" and every character whose NFKC form is "#"


@functools.cache
def _classes() -> tuple[str, str]:
    """(characters allowed before a run, characters allowed inside one), as regex classes."""
    leading, inside = [], []
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        cat = unicodedata.category(ch)
        invisible = cat == "Cf" or (cat == "Cc" and ch not in LINE_BREAKS and ch != "\t")
        if invisible:
            inside.append(ch)
        if invisible or cat == "Zs" or ch == "\t":
            leading.append(ch)
    return "".join(map(re.escape, leading)), "".join(map(re.escape, inside))


@functools.cache
def _header_run() -> re.Pattern:
    leading, inside = _classes()
    hashes, breaks = re.escape(HASHES), re.escape(LINE_BREAKS)
    return re.compile(f"(^|[{breaks}])([{leading}]*)[{hashes}](?:[{inside}]*[{hashes}]){{2,}}")


def neutralize_headers(text: str) -> str:
    """`text` with every line-initial run of 3+ hash signs cut to "##" (module doc)."""
    return _header_run().sub(r"\1\2##", text)
