"""The options of `asi-evolve run`, generated from the fields of the run's context and budget.

Why generated: Studio's context form, `run --help` and README's option table then say the same thing — one
description per setting, written once on its `Context` field (or the budget's `LoopInput` field). An option left
out on the command line keeps the context's default, which `graph.settings` resolves.
"""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass, fields
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import typer

from graph.budget import LoopInput
from graph.context import Context

BUDGET_FLAGS = {"max_steps": "--steps", "max_wall_s": "--max-wall", "target_score": "--target"}
TABLE_START, TABLE_END = "<!-- run-options:start -->", "<!-- run-options:end -->"


@dataclass(frozen=True)
class Option:
    """One generated option: the field it sets, its flag, value type, help and bounds."""

    field: str
    flag: str
    kind: type  # str, int, float, bool (a flag) or list (repeatable)
    help: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    cli_default: str | None = None

    @property
    def inverted(self) -> bool:
        """A `--no-…` flag: giving it turns a setting that is on by default off."""
        return self.kind is bool and self.flag.startswith("--no-")

    def shown_default(self) -> str | None:
        if self.cli_default is not None:
            return self.cli_default
        if self.kind in (bool, list) or self.default in (None, ""):
            return None
        return str(self.default)


def _kind(annotation: Any) -> type:
    """str, int, float, bool or list for a field's type (optional types unwrapped)."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) in (tuple, list):
        return list
    return annotation


def context_options() -> list[Option]:
    """One option per context field the CLI offers, in field order."""
    hints = get_type_hints(Context)
    options = []
    for f in fields(Context):
        meta = f.metadata
        if meta.get("cli") is None:
            continue
        flag = meta["cli"] or "--" + f.name.replace("_", "-")
        options.append(Option(f.name, flag, _kind(hints[f.name]), meta["description"], f.default,
                              meta.get("low"), meta.get("high"), meta.get("cli_default")))
    return options


def budget_options() -> list[Option]:
    """The budget's options (--steps, --max-wall, --target), described by the budget's own fields."""
    hints = get_type_hints(LoopInput, include_extras=True)
    options = []
    for name, flag in BUDGET_FLAGS.items():
        kind, *extras = get_args(hints[name])
        info = next(e for e in extras if hasattr(e, "description"))
        low = next((m.ge for m in getattr(info, "metadata", []) if hasattr(m, "ge")), None)
        options.append(Option(name, flag, _kind(kind), info.description, None, low))
    return options


def parameter(option: Option) -> inspect.Parameter:
    """The option as a typer parameter (its name is the field's)."""
    text = option.help.replace("[", r"\[")  # brackets are literal text, not rich markup
    if option.kind is bool:
        annotation: Any = Annotated[bool, typer.Option(option.flag, help=text)]
        default: Any = False
    elif option.kind is list:
        annotation = Annotated[list[str] | None, typer.Option(option.flag, help=text)]
        default = None
    else:
        shown = option.shown_default()
        info = typer.Option(option.flag, help=text, min=option.low, max=option.high,
                            show_default=shown if shown is not None else False)
        annotation = Annotated[option.kind | None, info]
        default = None
    return inspect.Parameter(option.field, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def given_values(options: list[Option], values: dict[str, Any]) -> dict[str, Any]:
    """The settings the command line named, as field values (options left out are not included)."""
    given: dict[str, Any] = {}
    for option in options:
        value = values.get(option.field)
        if option.kind is bool:
            if value:
                given[option.field] = not option.inverted
        elif option.kind is list:
            if value:
                given[option.field] = tuple(value)
        elif value is not None:
            given[option.field] = value
    return given


def markdown_table() -> str:
    """README's table of `asi-evolve run` options (a test keeps README equal to it)."""
    rows = ["| option | what it sets | default |", "|---|---|---|"]
    for option in [*budget_options(), *context_options()]:
        if option.kind is bool:
            flag, default = option.flag, "on" if option.inverted else "off"
        elif option.kind is list:
            flag, default = f"{option.flag} X (repeatable)", "none"
        else:
            flag, default = f"{option.flag} X", option.shown_default() or "—"
        rows.append(f"| `{flag}` | {option.help.replace('|', '/')} | {default} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


if __name__ == "__main__":
    print(markdown_table())
