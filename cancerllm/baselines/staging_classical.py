"""Classical staging models: TF-IDF + rule findings -> one linear classifier per field; the cancer-type prior.

Why: a hospital can train this in seconds on a CPU from its own labelled reports, it is
auditable (linear weights over n-grams and rule findings), and it is the bar any LLM head
must clear. Two systems, same interface (`fit` / `predict` / `save_pretrained` /
`from_pretrained`):

- `ClassicalStaging`: word (1-2) and character (3-5, within words) n-gram TF-IDF of the
  report, plus the rule extractor's findings as sparse features (`findings`): its
  resolved coarse value per field, every coarse value it saw as a candidate, the largest
  tumour size written near a tumour word (binned), and - when the record has one - the
  cancer type and its cross with the size bin (T thresholds differ by organ). One
  scikit-learn `LogisticRegression` per field with balanced class weights.
- `CancerTypePrior`: logistic regression on the one-hot cancer type only - what a model
  that never reads the report can get (TCGA's T distribution differs a lot by organ).

Hyper-parameters (the inverse regularisation C, per field) are chosen on the **dev**
split by macro F1 (ties: the smaller C); the test split is never read here. With
`refit_on_dev` the chosen settings are then refitted on train + dev (dev has served
its purpose), as scikit-learn's `GridSearchCV(refit=True)` does.

Labels are the coarse classes (`cancerllm.schema.staging.to_coarse`); unlabelled
fields (None) are skipped per field. A field with a single training class gets a
constant predictor (recorded in `selection`). Written by hand: only `findings` and the
per-field loop; the features, classifiers and persistence are scikit-learn / joblib.
Models are saved with joblib (a pickle): load only model folders you trust.
Not supported: fine classes (T1a ...), per-specimen output, multi-label fields.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cancerllm.baselines.staging_findings import SIZE_BINS_CM, findings, tumour_sizes_cm  # noqa: F401 (re-exported)
from cancerllm.config import Config
from cancerllm.errors import InputError
from cancerllm.io import atomic_write_json
from cancerllm.schema.staging import FINE, NR, to_coarse

MODEL_FILE = "model.joblib"
INFO_FILE = "classical.json"
SYSTEMS = ("classical", "cancer_type_prior")


class ClassicalConfig(Config):
    """recipes/staging-classical.yaml: the classical system's settings and the dev grid."""

    seed: int = 0
    fields: list[str] = ["pT", "pN", "M", "grade", "ER", "PR", "HER2"]
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = (3, 5)   # null: words only
    min_df: int = 2
    use_findings: bool = True
    use_cancer_type: bool = True                  # only where records carry `cancer_type`
    C_grid: list[float] = [1.0, 3.0, 10.0, 30.0]
    # How much the findings count beside the n-grams (a scale on their one-hot columns; with
    # L2, a smaller scale means the model leans on them less); chosen per field with C on dev.
    findings_weight_grid: list[float] = [1.0]
    class_weight: str | None = "balanced"
    max_iter: int = 3000
    refit_on_dev: bool = True


# ---------------------------------------------------------------- feature glue

def findings_of_frame(frame) -> list[dict[str, float]]:
    """`findings` of each row of a (text, cancer_type) frame; a module-level function so a
    saved model pickles."""
    types = frame["cancer_type"] if "cancer_type" in frame else [None] * len(frame)
    return [findings(t, c if isinstance(c, str) and c else None) for t, c in zip(frame["text"], types)]


def as_frame(records: list[dict], use_cancer_type: bool = True):
    """The model input: a pandas frame with `text` and `cancer_type` ("" when absent or unused)."""
    import pandas as pd
    bad = [i for i, r in enumerate(records) if not isinstance(r.get("text"), str)]
    if bad:
        raise InputError(f"{len(bad)} record(s) without a text string (first at position {bad[0]})")
    return pd.DataFrame({"text": [r["text"] for r in records],
                         "cancer_type": [(r.get("cancer_type") or "") if use_cancer_type else "" for r in records]})


def feature_union(cfg: ClassicalConfig):
    """The shared feature extractor: word and char TF-IDF of the text, findings one-hot."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    parts = [("word", TfidfVectorizer(ngram_range=tuple(cfg.word_ngrams), min_df=cfg.min_df, sublinear_tf=True),
              "text")]
    if cfg.char_ngrams:
        parts.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(cfg.char_ngrams),
                                              min_df=cfg.min_df, sublinear_tf=True), "text"))
    if cfg.use_findings:
        parts.append(("findings", make_pipeline(FunctionTransformer(findings_of_frame), DictVectorizer()),
                      ["text", "cancer_type"]))
    return ColumnTransformer(parts, sparse_threshold=1.0)  # always sparse: densifying n-grams costs GBs


# ---------------------------------------------------------------- the shared per-field fit

def coarse_targets(records: list[dict], field: str) -> tuple[list[int], list[str]]:
    """Positions of the records labelled for `field` and their coarse labels."""
    rows, labels = [], []
    for i, r in enumerate(records):
        label = (r.get("labels") or {}).get(field)
        if label is not None:
            if label not in FINE[field]:
                raise InputError(f"record {r.get('id')!r}: {field} label {label!r} is not one of {FINE[field]}")
            rows.append(i)
            labels.append(to_coarse(field, label))
    return rows, labels


def scale_columns(X, start: int, stop: int, weight: float):
    """X with columns start:stop multiplied by `weight` (the findings block's scale); a
    module-level function so a saved model pickles."""
    import numpy as np
    import scipy.sparse as sp
    scale = np.ones(X.shape[1])
    scale[start:stop] = weight
    return sp.csr_matrix(X) @ sp.diags(scale)


def _classifier(cfg: ClassicalConfig, C: float, block: slice | None = None, weight: float = 1.0):
    """A logistic regression; with a findings `block` scaled by `weight`, a pipeline that
    scales it first (the same scale at fit and at predict)."""
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(C=C, class_weight=cfg.class_weight, max_iter=cfg.max_iter, random_state=cfg.seed)
    if block is None or weight == 1.0:
        return clf
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    return make_pipeline(FunctionTransformer(scale_columns, accept_sparse=True,
                                             kw_args={"start": block.start, "stop": block.stop, "weight": weight}),
                         clf)


def findings_block(features) -> slice | None:
    """The columns of the findings one-hot in the fitted feature union (None without findings)."""
    return getattr(features, "output_indices_", {}).get("findings")


def select_and_fit(X_train, train: list[dict], X_dev, dev: list[dict], fields: list[str], cfg: ClassicalConfig,
                   refit=None, block: slice | None = None) -> tuple[dict, dict]:
    """Per field: the (findings weight, C) of the grids with the best dev macro F1, then the
    final classifier.

    `block` is the findings columns of X_train / X_dev (their weight grid applies only with
    it). `refit(field, C, weight)`, when given, returns the final classifier (fitted on
    train + dev); otherwise the train-fitted one is kept. Ties go to the smaller C, then the
    larger weight. Returns ({field: classifier}, selection).
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import f1_score
    weights = cfg.findings_weight_grid if block is not None else [1.0]
    models, selection = {}, {}
    for field in fields:
        rows, y = coarse_targets(train, field)
        dev_rows, dev_y = coarse_targets(dev, field)
        if len(set(y)) < 2:
            if not y:
                selection[field] = {"skipped": "no training labels"}
                continue
            models[field] = DummyClassifier(strategy="most_frequent").fit(X_train[rows], y)
            selection[field] = {"constant": y[0], "n_train": len(y)}
            continue
        scores, fitted = {}, {}
        for w in weights:
            for C in cfg.C_grid:
                clf = _classifier(cfg, C, block, w).fit(X_train[rows], y)
                if dev_rows:
                    scores[(w, C)] = 100 * float(f1_score(dev_y, clf.predict(X_dev[dev_rows]), average="macro",
                                                          zero_division=0))
                fitted[(w, C)] = clf
        best = max(fitted, key=lambda k: (scores.get(k, 0.0), -k[1], k[0]))
        models[field] = refit(field, best[1], best[0]) if refit else fitted[best]
        selection[field] = {"C": best[1], "findings_weight": best[0], "n_train": len(y), "n_dev": len(dev_y),
                            "dev_macro_f1": {(f"C={C:g}" if len(weights) == 1 else f"w={w:g},C={C:g}"): v
                                             for (w, C), v in scores.items()},
                            "classes": [str(c) for c in models[field].classes_]}
    return models, selection


def probs_rows(models: dict, X, n: int) -> list[dict]:
    """{field: {"label", "probs"}} per row from per-field classifiers (fields not trained: NR)."""
    out = [dict() for _ in range(n)]
    for field, clf in models.items():
        proba = clf.predict_proba(X)
        classes = [str(c) for c in clf.classes_]
        for row, p in zip(out, proba):
            best = int(p.argmax())
            row[field] = {"label": classes[best], "probs": {c: float(v) for c, v in zip(classes, p)}}
    return out


# ---------------------------------------------------------------- the systems

class _Saved:
    """Joblib persistence shared by both systems (`save_pretrained` / `from_pretrained`)."""

    system = ""

    def save_pretrained(self, out_dir: str | os.PathLike) -> Path:
        import joblib
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (MODEL_FILE + ".tmp")
        joblib.dump(self, tmp)
        os.replace(tmp, out / MODEL_FILE)
        atomic_write_json(out / INFO_FILE, {"system": self.system, "fields": list(self.models),
                                            "selection": self.selection, "config": self.cfg.model_dump(mode="json")})
        return out

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike):
        import joblib
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise InputError(f"{model_dir}: no {MODEL_FILE} (train one with `cancerllm train staging`)")
        model = joblib.load(path)
        if not isinstance(model, cls):
            raise InputError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


class _LinearStaging(_Saved):
    """What both systems share: features fitted on train, C per field chosen on dev
    (`select_and_fit`), then optionally refitted on train + dev. A subclass says how records
    become a frame (`_frame`) and which feature encoder reads it (`_new_features`)."""

    what = ""  # how errors name the system

    def __init__(self, cfg: ClassicalConfig | None = None):
        self.cfg = cfg or ClassicalConfig()
        self.features = None
        self.models: dict = {}
        self.selection: dict = {}

    def _frame(self, records: list[dict]):
        raise NotImplementedError

    def _new_features(self):
        raise NotImplementedError

    def fit(self, train: list[dict], dev: list[dict], fields: list[str] | None = None):
        cfg, fields = self.cfg, fields or self.cfg.fields
        if not train:
            raise InputError("no training records")
        t0 = time.perf_counter()
        features = self._new_features()
        X_train = features.fit_transform(self._frame(train)).tocsr()
        X_dev = features.transform(self._frame(dev)).tocsr() if dev else None
        refit = None
        if cfg.refit_on_dev and dev:
            both = train + dev
            final = self._new_features()
            X_both = final.fit_transform(self._frame(both)).tocsr()

            def refit(field, C, weight):
                rows, y = coarse_targets(both, field)
                return _classifier(cfg, C, findings_block(final), weight).fit(X_both[rows], y)
        self.models, self.selection = select_and_fit(X_train, train, X_dev, dev or [], fields, cfg, refit,
                                                     findings_block(features))
        if refit:
            features = final
        self.features = features
        self.selection["_fit_seconds"] = round(time.perf_counter() - t0, 2)
        self.selection["_refit_on"] = "train+dev" if refit else "train"
        return self

    def predict(self, records: list[dict]) -> list[dict]:
        """{field: {"label": coarse, "probs": {class: p}}} per record."""
        if self.features is None:
            raise InputError(f"the {self.what} is not fitted")
        if not records:
            return []
        return probs_rows(self.models, self.features.transform(self._frame(records)).tocsr(), len(records))


class ClassicalStaging(_LinearStaging):
    """TF-IDF + rule findings -> a logistic regression per field (module docstring).

    Records carry `text` and, optionally, `cancer_type`."""

    system = "classical"
    what = "classical model"

    def _frame(self, records: list[dict]):
        return as_frame(records, self.cfg.use_cancer_type)

    def _new_features(self):
        return feature_union(self.cfg)


class CancerTypePrior(_LinearStaging):
    """Logistic regression on the one-hot cancer type: the staging a model gets without reading.

    Needs `cancer_type` on every record; a type unseen in training predicts the
    training distribution's balanced-weight intercepts.
    """

    system = "cancer_type_prior"
    what = "cancer-type prior"

    def _frame(self, records: list[dict]):
        import pandas as pd
        missing = [r.get("id") for r in records if not r.get("cancer_type")]
        if missing:
            raise InputError(f"the cancer-type prior needs `cancer_type` on every record; "
                             f"{len(missing)} lack it (first: {missing[0]!r})")
        return pd.DataFrame({"cancer_type": [r["cancer_type"] for r in records]})

    def _new_features(self):
        from sklearn.preprocessing import OneHotEncoder
        return OneHotEncoder(handle_unknown="ignore")


SYSTEM_CLASSES = {"classical": ClassicalStaging, "cancer_type_prior": CancerTypePrior}


def load_staging_system(model_dir: str | os.PathLike):
    """A saved classical or prior model, whichever the folder holds."""
    info = Path(model_dir) / INFO_FILE
    if not info.is_file():
        raise InputError(f"{model_dir}: no {INFO_FILE} (train one with `cancerllm train staging`)")
    system = json.loads(info.read_text(encoding="utf-8")).get("system")
    if system not in SYSTEM_CLASSES:
        raise InputError(f"{info}: unknown system {system!r}; expected one of {list(SYSTEM_CLASSES)}")
    return SYSTEM_CLASSES[system].from_pretrained(model_dir)


def train_staging(data: str | os.PathLike, out_dir: str | os.PathLike, system: str = "classical",
                  cfg: ClassicalConfig | None = None, fields: list[str] | None = None) -> dict:
    """`cancerllm train staging`: fit a classical system on DATA's train split, choose on its
    validation (dev) split, save into OUT; returns the selection summary (also in OUT).

    DATA is what `cancerllm train heads` reads (a folder with train/validation/test.jsonl,
    pathology.jsonl, or a corpus folder); the test split is not read.
    """
    from cancerllm.runs import start_run
    from cancerllm.data.pathology import load_splits
    if system not in SYSTEM_CLASSES:
        raise InputError(f"unknown system {system!r}; choose one of {list(SYSTEM_CLASSES)}")
    cfg = cfg or ClassicalConfig()
    unknown = [f for f in (fields or cfg.fields) if f not in FINE]
    if unknown:
        raise InputError(f"unknown fields {unknown}; fields are {list(FINE)}")
    splits = load_splits(data, cfg.seed)
    if not splits["validation"]:
        raise InputError(f"{data}: no validation (dev) records to choose the settings on")
    out = start_run(out_dir, cfg, cfg.seed, stage=f"train.staging.{system}")
    model = SYSTEM_CLASSES[system](cfg).fit(splits["train"], splits["validation"], fields)
    model.save_pretrained(out)
    summary = {"system": system, "n_train": len(splits["train"]), "n_dev": len(splits["validation"]),
               "selection": model.selection, "output": str(out)}
    atomic_write_json(out / "metrics.json", summary)
    return summary


def predict_labels(model, records: list[dict]) -> list[dict]:
    """Just the labels ({field: coarse}) of `model.predict`, NR for fields it has no model of."""
    rows = model.predict(records)
    return [{f: (row.get(f) or {}).get("label", NR) for f in model.cfg.fields} for row in rows]
