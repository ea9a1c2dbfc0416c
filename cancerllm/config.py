"""Typed run configs loaded from YAML recipes, overridable with `key=value` on the CLI.

Every stage declares its config as a pydantic model deriving from `Config`; unknown keys
are errors (a typo in a recipe must not be silently ignored), and `load_config` applies
dotted overrides such as `lora.r=16 train.max_steps=20` before validation.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cancerllm.errors import ConfigError

# Recipes ship inside the package (`cancerllm/recipes`, a link to the source tree's
# `recipes/`, copied into the wheel as package data), so a plain `pip install .` finds them
# through importlib.resources; in a source checkout both names are the same folder.
PACKAGE_RECIPES = Path(str(importlib.resources.files("cancerllm") / "recipes"))
_SOURCE_RECIPES = Path(__file__).resolve().parent.parent / "recipes"
_IN_SOURCE_TREE = _SOURCE_RECIPES.is_dir() and (_SOURCE_RECIPES.parent / "pyproject.toml").is_file()
RECIPES_DIR = _SOURCE_RECIPES if _IN_SOURCE_TREE else PACKAGE_RECIPES

C = TypeVar("C", bound="Config")


class Config(BaseModel):
    """Base of all run configs: strict about unknown keys, plain to dump back to YAML."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_yaml_file(path: str | os.PathLike, what: str) -> Any:
    """A YAML file's content, or a ConfigError that names `what` (missing file, bad YAML)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {exc}") from None


def _parse_value(text: str) -> Any:
    # YAML scalars give the user "20" -> 20, "true" -> True, "[a, b]" -> list.
    return yaml.safe_load(text) if text != "" else ""


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node[parts[-1]] = _parse_value(value)
    return data


def resolve_recipe(recipe: str | os.PathLike) -> Path:
    """A recipe is a path, or the name of a shipped recipe: `demo`, `demo.yaml` or
    `recipes/demo.yaml` (the source-tree spelling) are looked up in the package first."""
    p = Path(recipe)
    named = Path(*p.parts[1:]) if p.parts[:1] == ("recipes",) and len(p.parts) > 1 else p
    folders = dict.fromkeys([PACKAGE_RECIPES, RECIPES_DIR])
    for cand in (p, *(d / n for d in folders for n in (named, Path(f"{named}.yaml")))):
        if cand.is_file():
            return cand
    known = sorted({x.stem for d in folders for x in d.glob("*.yaml")})
    raise ConfigError(f"recipe {str(recipe)!r} not found; shipped recipes: {', '.join(known)}")


def load_config(cls: type[C], recipe: str | os.PathLike | None = None,
                overrides: list[str] | None = None, section: str | None = None) -> C:
    """Load `cls` from a YAML recipe (optionally one top-level `section` of it) plus overrides."""
    data: dict = {}
    if recipe is not None:
        path = resolve_recipe(recipe)
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if section is not None:
            data = data.get(section, {}) or {}
    data = apply_overrides(dict(data), overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        where = f" in {recipe}" if recipe else ""
        raise ConfigError(f"invalid {cls.__name__}{where}:\n{exc}") from None
