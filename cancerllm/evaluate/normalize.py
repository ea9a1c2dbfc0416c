"""Text normalisation for scoring: the paper's reference normaliser and two variants.

Three tokenisers, one job each:

- `reference_tokens` reproduces the authors' public evaluation (see
  docs/metrics.md): lower-case, delete every `string.punctuation` character
  *without* leaving a space ("her2/neu" -> "her2neu", "pr,er" -> "prer"), collapse
  whitespace, Porter-stem each token (tokens of length <= 2 kept as they are), drop empty
  stems. Stemming is nltk's `PorterStemmer().stem` in its default mode: the reference's
  own stemmer agreed with it on 97,500 words, so we use the library rather than a copy.
- `standard_tokens` is rouge-score's tokeniser with its Porter stemming (non-alphanumerics
  become spaces, so "pr,er" is two tokens), used by the `standard` scoring mode so its
  numbers match what rouge-score users report.
- `analysis_tokens` is used by error analysis: like the reference, but punctuation
  becomes a space, so comma-separated lists keep their items apart ("iib,iib,iib" is
  three tokens, which is what a repetition rule must see).

Speed: scoring 100,000 instances is dominated by stemming, and answer vocabularies are
small, so stems are cached per distinct token and token tuples per distinct string.
"""

from __future__ import annotations

import string
from functools import lru_cache

from nltk.stem import PorterStemmer

_STEMMER = PorterStemmer()  # nltk 3.10.4, default mode (NLTK_EXTENSIONS), pinned in tests
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


@lru_cache(maxsize=1 << 18)
def stem(token: str) -> str:
    """Porter stem of one lower-cased token; tokens of length <= 2 are returned unchanged."""
    if len(token) <= 2:
        return token
    return _STEMMER.stem(token)


def reference_normalize(text: str) -> str:
    """Lower-case, delete ASCII punctuation (no space left behind), collapse whitespace."""
    return " ".join(text.lower().translate(_DELETE_PUNCTUATION).split())


@lru_cache(maxsize=1 << 17)
def reference_tokens(text: str) -> tuple[str, ...]:
    """The reference scorer's tokens: normalised, whitespace-split, stemmed, empties dropped."""
    stems = (stem(tok) for tok in text.lower().translate(_DELETE_PUNCTUATION).split())
    return tuple(s for s in stems if s)


@lru_cache(maxsize=1 << 17)
def analysis_tokens(text: str) -> tuple[str, ...]:
    """Like `reference_tokens`, but punctuation separates tokens instead of vanishing."""
    stems = (stem(tok) for tok in text.lower().translate(_PUNCTUATION_TO_SPACE).split())
    return tuple(s for s in stems if s)


@lru_cache(maxsize=1)
def _rouge_score_tokenizer():
    try:
        from rouge_score.tokenizers import DefaultTokenizer
    except ImportError as exc:  # rouge-score is a dev extra, not a core dependency
        from cancerllm.errors import ConfigError

        raise ConfigError("scoring mode 'standard' needs rouge-score and sacrebleu: "
                          "pip install 'cancerllm[dev]' (or rouge-score sacrebleu)") from exc
    return DefaultTokenizer(use_stemmer=True)


@lru_cache(maxsize=1 << 17)
def standard_tokens(text: str) -> tuple[str, ...]:
    """rouge-score's tokens (lower-case, non-alphanumerics -> space, stem tokens > 3 chars)."""
    return tuple(_rouge_score_tokenizer().tokenize(text))
