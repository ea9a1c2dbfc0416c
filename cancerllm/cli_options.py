"""One spelling for each option across commands, the old spellings kept as hidden aliases.

Every command names its main input `--input`, its output `--output` and its task(s)
`--task`; earlier releases also had `--in`, `--out` and `--tasks`, and scripts and
notebooks use them. `old_spellings` keeps those working without showing them in
`--help`: click cannot hide one name of an option, so each old spelling becomes a second,
hidden option of the same type, folded into the canonical parameter before the command
runs. A canonical option that was required becomes "required unless its old spelling is
given", checked here with click's own "Missing option" error.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable

import typer
from typer.models import OptionInfo

try:  # typer >= 0.2x runs on its own copy of click: its exceptions are the ones it reports cleanly
    from typer._click.exceptions import MissingParameter
except ImportError:  # pragma: no cover - a typer on the installed click
    from click.exceptions import MissingParameter

CANONICAL = {"--in": "--input", "--out": "--output", "--tasks": "--task", "--set": "KEY=VALUE (positional)"}


def old_spellings(**aliases: str) -> Callable:
    """Decorator: `aliases` maps a parameter name to its old option spelling, e.g. out="--out".

    Put it under `@app.command()`. The parameter's own `typer.Option` carries the canonical
    spelling (e.g. "--output").
    """
    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        required: dict[str, str] = {}
        extra = []
        annotations = dict(getattr(fn, "__annotations__", {}))
        for name, old in aliases.items():
            param = sig.parameters[name]
            info = param.default
            if not isinstance(info, OptionInfo):
                raise TypeError(f"{fn.__name__}: {name} is not a typer.Option")
            canonical = (info.param_decls or (f"--{name.replace('_', '-')}",))[0]
            if info.default is ...:
                info = copy.copy(info)
                info.default = None
                info.help = f"{info.help or ''} (required)".strip()
                required[name] = canonical
                params[params.index(param)] = param.replace(default=info)
            alias = f"_{name}_old_spelling"
            extra.append(inspect.Parameter(alias, inspect.Parameter.KEYWORD_ONLY, annotation=param.annotation,
                                           default=typer.Option(None, old, hidden=True,
                                                                help=f"Old spelling of {canonical}.")))
            annotations[alias] = annotations.get(name, param.annotation)

        @functools.wraps(fn)
        def command(*args, **kwargs):
            for name, old in aliases.items():
                value = kwargs.pop(f"_{name}_old_spelling", None)
                if value is not None and value != []:
                    if kwargs.get(name) not in (None, [], sig.parameters[name].default.default):
                        raise typer.BadParameter(f"give {old} or its new spelling, not both", param_hint=old)
                    kwargs[name] = value
                if name in required and kwargs.get(name) is None:
                    raise MissingParameter(param_hint=f"'{required[name]}'", param_type="option")
            return fn(*args, **kwargs)

        command.__signature__ = sig.replace(parameters=params + extra)
        command.__annotations__ = annotations
        return command
    return decorate
