"""Map a hospital's annotation labels onto the paper's 8 phenotype entity types.

Annotators name labels their own way ("HR_TYPE", "GRADE", "Tumor Size"); the phenotype
task asks about exactly 8 types (paper 2.2.1). A label map says which is which:

    # labels.yaml: source label -> entity type, or null to drop that label on purpose
    labels:
      HR_TYPE: hormone_receptor_type
      HR_STATUS: hormone_receptor_status
      "Tumor Size": tumor_size
      Medication: null

(A flat mapping without the `labels:` key is accepted too.) A label that already is an
entity type maps to itself. Any other label is *unmapped*: an error listing every such
label with its count, so annotations are never silently lost, unless the user asks to
drop them (`--ignore-labels`), in which case the counts are reported.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter

from cancerllm.errors import ConfigError, InputError


def entity_types() -> list[str]:
    from cancerllm.tasks.phenotype import ENTITY_TYPES
    return list(ENTITY_TYPES)


def load_label_map(path: str | os.PathLike | None) -> dict[str, str | None]:
    """{source label: entity type or None (drop)} from a YAML file; {} for no file."""
    if path is None:
        return {}
    from cancerllm.config import load_yaml_file
    data = load_yaml_file(path, "label map")
    if isinstance(data, dict) and set(data) == {"labels"}:
        data = data["labels"]
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"label map {str(path)!r} must map source labels to entity types")
    types = entity_types()
    out: dict[str, str | None] = {}
    for source, target in data.items():
        if target is not None and target not in types:
            close = difflib.get_close_matches(str(target), types, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"label map {str(path)!r}: {source!r} -> {target!r} is not an entity type "
                              f"(known: {', '.join(types)}, or null to drop).{hint}")
        out[str(source)] = target
    return out


def map_labels(labels: Counter, label_map: dict[str, str | None],
               ignore_unmapped: bool = False) -> tuple[dict[str, str | None], Counter]:
    """(label -> entity type or None for every label seen, dropped label counts).

    Raises InputError listing every unmapped label with its count unless `ignore_unmapped`.
    """
    types = set(entity_types())
    resolved: dict[str, str | None] = {}
    unmapped: Counter = Counter()
    dropped: Counter = Counter()
    for label, n in labels.items():
        if label in label_map:
            resolved[label] = label_map[label]
        elif label in types:
            resolved[label] = label
        else:
            unmapped[label] += n
            resolved[label] = None
        if resolved[label] is None:
            dropped[label] += n
    if unmapped and not ignore_unmapped:
        listing = ", ".join(f"{label!r} ({n})" for label, n in unmapped.most_common())
        raise InputError(f"{len(unmapped)} annotation label(s) are not entity types and not in the label map: "
                         f"{listing}. Map them to one of {', '.join(sorted(types))} in a label map "
                         f"(--label-map labels.yaml; null drops a label), or drop them with --ignore-labels.")
    return resolved, dropped
