"""Person names without a named-entity model: contexts, a name lexicon, and propagation.

No NER model can be downloaded here, so a name is taken where the text says it is one:
1. after a title: "Dr. Young", "Ms. O'Brien", "Mr Tran" (any capitalised word);
2. after a label or a phrase that introduces a person: "Patient:", "Name:", "Provider:",
   "Seen by", "Discussed with", "Spoke with", "Electronically signed by", "husband John",
   "daughter Maria" (capitalised words that are a lexicon name or not an ordinary word);
3. before a credential: "Maria Garcia, MD", "J. Smith RN";
4. as a pair from the lexicon anywhere: "Maria Garcia", "GARCIA, MARIA", "Garcia, Maria",
   "Maria J. Garcia", or one lexicon name beside a capitalised non-word ("Maria Okafor");
5. every other occurrence, in the same record, of a word of a name found by 1-4 or given
   by the record's own name fields ("Garcia reports ..." after "Patient: Maria Garcia");
6. a first + last lexicon pair that does what people do ("Grace Hill was seen", "Rose
   Baker tolerated"), even when both are ordinary words; a lower-case title ("per dr.
   smith"); particles before a found name go with it ("Dr. De La Cruz").

Lexicon (resources/): U.S. Census 1990 first names (1,000 most frequent female + 1,000
male) and surnames (5,000 most frequent); ordinary English words from SCOWL (so
"Tumor Board" is not a name); eponyms that are not people (not_names.txt).

Not caught: a lone first or last name that no context, lexicon pair or earlier mention
marks ("Okafor was seen", "spoke with Ifeoma"), names written in lower case except
repeats of names found, names in unusual scripts, nicknames.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache
from importlib import resources

from cancerllm.data.deid.spans import Span

_U, _L = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
# A capitalised word: Garcia, O'Brien, McDonald, Smith-Jones, GARCIA, D'ANGELO.
TOKEN = re.compile(rf"(?<![\w'’-])(?:[{_U}]['’])?[{_U}][{_U}{_L}]+(?:-[{_U}][{_U}{_L}]+)*(?![\w-]*\w)")
_INITIAL = rf"[{_U}]\.?"
_SPACE = rf"[ \t]+(?:{_INITIAL}[ \t]+)?"          # between first and last name, maybe "J."
_PARTICLES = {"de", "del", "della", "der", "den", "di", "da", "du", "van", "von", "la", "le", "bin", "ibn", "al", "st"}

TITLES = re.compile(r"\b(?:Dr|DR|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor)\b\.?[ \t]+")
LABELS = re.compile(
    r"\b(?:(?:patient|pt)(?:'s)?[ \t]+name|patient|pt|name|full[ \t]+name|provider|attending(?:[ \t]+physician)?|"
    r"physician|surgeon|pathologist|oncologist|radiologist|resident|fellow|nurse|pcp|"
    r"primary[ \t]+care(?:[ \t]+(?:physician|provider))?|referring(?:[ \t]+(?:physician|provider|md))?|"
    r"emergency[ \t]+contact|next[ \t]+of[ \t]+kin|guardian|signature|author|dictated|transcribed)"
    r"[ \t]*:[ \t]*"
    r"|\b(?:seen|discussed|reviewed|consulted|referred|evaluated|examined|accompanied)[ \t]+(?:by|with)[ \t]+"
    r"|\b(?:spoke|speaking|talked|talking|met|meeting|called|phoned|visited)(?:[ \t]+(?:with|to))?[ \t]+"
    r"|\b(?:(?:electronically[ \t]+)?(?:signed|co-?signed|authenticated|verified)|dictated|transcribed|"
    r"reported|prepared)(?:[ \t]+out)?[ \t]+by[ \t]*:?[ \t]*"
    r"|\bsigned[ \t]*:[ \t]*"
    # a role written as a title, no colon: "Nurse Amy", "Nurse Practitioner Joy Kim", "Patient Rose Baker"
    r"|\b(?:nurse(?:[ \t]+practitioner)?|patient|resident|intern|chaplain|pharmacist|navigator|"
    r"social[ \t]+worker|therapist|midwife)[ \t]*:?[ \t]+", re.I)
# A title in lower case ("per dr. smith"): the next word is the name, whatever its case.
LOWER_TITLE = re.compile(r"\b(?:dr|mr|mrs|ms)\.[ \t]+(?P<v>[a-z][a-z'’-]+)")
# A first + last name pair from the lexicon that does what people do ("Grace Hill was seen"):
# taken even when both words are also ordinary words, which the bare pair rule refuses.
PERSON_VERB = re.compile(
    r"[ \t]+(?:was|is|has|had|presents|presented|returns|returned|reports|reported|tolerated|tolerates|called|"
    r"declined|consented|denies|denied|states|stated|arrived|underwent|agreed|feels|felt|complains|continues|"
    r"remains|will|would|wants|wishes|asked|came|comes|lives|says|said)\b")
_PARTICLES_BEFORE = re.compile(
    r"(?:(?<![\w'’-])(?:de|del|della|der|den|di|da|du|van|von|la|le|st\.?|bin|ibn|al)[ \t]+)+$", re.I)
RELATIONS = re.compile(
    r"\b(?:husband|wife|spouse|partner|son|daughter|mother|father|mom|dad|brother|sister|niece|nephew|"
    r"grandson|granddaughter|grandmother|grandfather|friend|caregiver|boyfriend|girlfriend|fianc[eé]e?|"
    r"aunt|uncle|cousin|neighbou?r)(?:[ \t]*,)?(?:[ \t]+(?:named|is|was))?[ \t]+", re.I)
CREDENTIALS = re.compile(
    r"[ \t]*,?[ \t]*(?:(?:MD|DO|RN|NP|PA-C|PhD|MBBS|APRN|CNP|FACP|FACS|DNP|PharmD|LPN|MSW|LICSW|CRNA)\b"
    r"|M\.D\.|D\.O\.|Ph\.D\.)")
STOP = {"dr", "doctor", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "md", "do", "rn", "np", "pa",
        "phd", "the", "a", "an", "and", "or", "of", "in", "on", "at", "to", "for", "with", "by", "is", "was",
        "he", "she", "they", "his", "her", "their", "patient", "pt", "name", "mrn", "dob", "date", "unknown",
        "none", "na", "n/a", "self", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


def _words(name: str) -> list[str]:
    text = resources.files("cancerllm.data.deid").joinpath("resources", name).read_text(encoding="utf-8")
    return [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]


@lru_cache(maxsize=1)
def lexicon() -> dict[str, frozenset[str]]:
    not_names = _words("not_names.txt")
    return {"first": frozenset(_words("first_names.txt")), "last": frozenset(_words("last_names.txt")),
            "english": frozenset(_words("english_words.txt")),
            "not_single": frozenset(w for w in not_names if " " not in w),
            "not_pair": frozenset(w for w in not_names if " " in w)}


def norm(token: str) -> str:
    return token.replace("'", "").replace("’", "").lower()


def is_name(token: str) -> bool:
    lex, n = lexicon(), norm(token)
    return n in lex["first"] or n in lex["last"] or any(p in lex["first"] or p in lex["last"] for p in n.split("-")[1:])


def is_word(token: str) -> bool:
    return norm(token) in lexicon()["english"]


def _plausible(token: str, short_caps: bool = False) -> bool:
    """A capitalised word that may be a name in a context that introduces a person.

    Short upper-case words ("ER", "CT") are acronyms unless `short_caps` (the second word
    of a name already begun: "NGUYEN, HOA") or the lexicon says otherwise.
    """
    n = norm(token)
    if n in STOP or n in lexicon()["not_single"]:
        return False
    if token.isupper() and len(token) <= 3 and not short_caps and not is_name(token):
        return False
    return is_name(token) or not is_word(token)


class _Tokens:
    """The capitalised words of a text, with what lies between neighbours."""

    def __init__(self, text: str):
        self.text = text
        self.items = [(m.start(), m.end()) for m in TOKEN.finditer(text)]
        self.by_start = {s: i for i, (s, _) in enumerate(self.items)}

    def word(self, i: int) -> str:
        a, b = self.items[i]
        return self.text[a:b]

    def is_date(self, i: int) -> bool:
        """Token i is a month opening a date ("April 14", "March 2021"), not a name."""
        return norm(self.word(i)) in _MONTHS and bool(_DIGIT_NEXT.match(self.text, self.items[i][1]))

    def gap(self, i: int) -> str:
        """Text between token i and token i+1."""
        return self.text[self.items[i][1]:self.items[i + 1][0]]

    def at(self, pos: int) -> int | None:
        """Index of the token starting at `pos`, after spaces, tabs or a particle ("de la")."""
        return self.by_start.get(_LEAD.match(self.text, pos).end())


_MONTHS = {m.lower() for m in calendar.month_name[1:]} | {m.lower() for m in calendar.month_abbr[1:]} | {"sept"}
_DIGIT_NEXT = re.compile(r"\.?,?[ \t]*\d")
_LEAD = re.compile(r"[ \t]*(?:(?:" + "|".join(_PARTICLES) + r")\.?[ \t]+)*", re.I)
_NAME_GAP = re.compile(rf"^(?:{_SPACE}|[ \t]*,[ \t]*|[ \t]+(?:(?:{'|'.join(_PARTICLES)})\.?[ \t]+)+)$", re.I)


def _extend(tok: _Tokens, i: int, first_any: bool, limit: int = 4) -> tuple[int, int] | None:
    """Indexes [i, j] of the name starting at token i, or None when token i is not a name."""
    if norm(tok.word(i)) in STOP or tok.is_date(i) or not (first_any or _plausible(tok.word(i))):
        return None
    j, commas = i, 0
    while j + 1 < len(tok.items) and j - i + 1 < limit:
        gap = tok.gap(j)
        # A short upper-case word continues a name only in "LAST, FIRST" ("NGUYEN, HOA", not "Smith CT").
        short_caps = "," in gap and tok.word(j).isupper()
        if not _NAME_GAP.match(gap) or tok.is_date(j + 1) or not _plausible(tok.word(j + 1), short_caps):
            break
        if "," in gap:
            commas += 1
            if commas > 1 or CREDENTIALS.match(tok.text, tok.items[j][1]):
                break
        j += 1
    return i, j


def _pair_ok(a: str, b: str, lex: dict) -> bool:
    """Two capitalised words read as first + last (or last, first) name from the lexicon."""
    if a.isupper() != b.isupper() or norm(a) in lex["not_single"] or norm(b) in lex["not_single"]:
        return False
    if f"{norm(a)} {norm(b)}" in lex["not_pair"] or f"{norm(b)} {norm(a)}" in lex["not_pair"]:
        return False
    return not (is_word(a) and is_word(b))


def _lexicon_pairs(tok: _Tokens) -> list[tuple[int, int]]:
    lex, out = lexicon(), []
    for i in range(len(tok.items) - 1):
        a, b, gap = tok.word(i), tok.word(i + 1), tok.gap(i)
        if re.fullmatch(_SPACE, gap):
            first, last = a, b
        elif re.fullmatch(r",[ \t]*", gap):
            first, last = b, a
        else:
            continue
        if tok.is_date(i) or tok.is_date(i + 1) or not _pair_ok(a, b, lex):
            continue
        nf, nl = norm(first), norm(last)
        both = nf in lex["first"] and nl in lex["last"]
        mixed = ((nf in lex["first"] and not is_word(first) and _plausible(last) and not is_name(last)) or
                 (nl in lex["last"] and not is_word(last) and _plausible(first) and not is_name(first)))
        if both or (mixed and not a.isupper()):
            out.append((i, i + 1))
    return out


def _with_particles(text: str, start: int) -> int:
    """`start` moved back over name particles right before it ("De La" of "De La Cruz")."""
    m = _PARTICLES_BEFORE.search(text, max(0, start - 40), start)
    return m.start() if m and m.end() == start else start


def _pairs_doing(tok: _Tokens) -> list[tuple[int, int]]:
    """Title-case first + last lexicon pairs followed by a person's verb (`PERSON_VERB`)."""
    lex, out = lexicon(), []
    for i in range(len(tok.items) - 1):
        a, b = tok.word(i), tok.word(i + 1)
        if a.isupper() or b.isupper() or not re.fullmatch(_SPACE, tok.gap(i)):
            continue
        if norm(a) not in lex["first"] or norm(b) not in lex["last"] or tok.is_date(i) or tok.is_date(i + 1):
            continue
        if f"{norm(a)} {norm(b)}" in lex["not_pair"] or norm(a) in lex["not_single"] or norm(b) in lex["not_single"]:
            continue
        if PERSON_VERB.match(tok.text, tok.items[i + 1][1]):
            out.append((i, i + 1))
    return out


def find_names(text: str, known: tuple[str, ...] = ()) -> list[Span]:
    """NAME spans of `text`; `known` are names from the record's own fields, to be found anywhere."""
    tok = _Tokens(text)
    found: list[tuple[int, int]] = []
    not_pair = lexicon()["not_pair"]
    for regex, first_any in ((TITLES, True), (LABELS, False), (RELATIONS, False)):
        for m in regex.finditer(text):
            i = tok.at(m.end())
            if i is None or (regex is RELATIONS and tok.word(i).isupper()):
                continue
            if not first_any and i + 1 < len(tok.items) and \
                    f"{norm(tok.word(i))} {norm(tok.word(i + 1))}" in not_pair:
                continue  # "Sister Mary Joseph nodule", "patient Ann Arbor stage": eponyms
            got = _extend(tok, i, first_any)
            if got:
                found.append(got)
    by_end = {e: k for k, (_, e) in enumerate(tok.items)}
    for m in CREDENTIALS.finditer(text):
        j = by_end.get(m.start())
        if j is None or not _plausible(tok.word(j)):
            continue
        i = j
        while i > 0 and j - i < 3 and re.fullmatch(_SPACE, tok.gap(i - 1)) and _plausible(tok.word(i - 1)):
            i -= 1
        found.append((i, j))
    found += _lexicon_pairs(tok) + _pairs_doing(tok)
    spans = [Span(_with_particles(text, tok.items[i][0]), tok.items[j][1], "NAME") for i, j in found]
    spans += [Span(m.start("v"), m.end("v"), "NAME") for m in LOWER_TITLE.finditer(text)
              if norm(m.group("v")) not in STOP]
    words = {tok.word(k) for i, j in found for k in range(i, j + 1)}
    for name in known:
        words.update(w for w in TOKEN.findall(name) if norm(w) not in STOP)
        if name.strip():
            spans += [Span(m.start(), m.end(), "NAME") for m in re.finditer(re.escape(name.strip()), text)]
    return spans + _repeats(text, words)


_ANY_WORD = re.compile(r"(?<![\w'’-])[^\W\d_](?:[\w'’-]*\w)?")


def _repeats(text: str, words: set[str]) -> list[Span]:
    """Other occurrences of name words: any case for non-words, as written (Title/UPPER) otherwise."""
    exact, anycase = set(), set()
    for w in words:
        n = norm(w)
        if len(n) < 2 or n in STOP:
            continue
        if is_word(w) or len(n) < 4:     # "Young", "Ng": only as a name is written
            exact.update({w, w.capitalize(), w.upper()})
        else:
            anycase.add(n)
    out = []
    for m in _ANY_WORD.finditer(text) if exact or anycase else ():
        w, end = m.group(), m.end()
        if w.endswith(("'s", "’s")):
            w, end = w[:-2], end - 2
        if w in exact or norm(w) in anycase:
            out.append(Span(m.start(), end, "NAME"))
    return out
