"""Help text in the conventional Unix shape, whatever Typer's current defaults are.

Typer 0.29 prints `<bool>` after every flag (flags take no value), `<list[str]>` after an
argument that takes several values, and `{project}` for a required argument in the usage line.
People read `--json` and `roundtable verify PROJECT [OPTIONS]`-style usage everywhere else, so
`install()` adjusts these display methods: flags and repeated arguments show no type,
repeatable options the type of one value, and arguments show as `PROJECT` (required), `[PATH]`
(optional) or `[PROJECT]...` (several). Only the help text changes; parsing does not. `tests/cli/test_help.py` checks the rendered help of every command,
so a Typer upgrade that renames these methods fails a test rather than the help.
"""

from __future__ import annotations

from typing import Any

import typer.core


def _flag_type(original: Any) -> Any:
    def display_type_rich(self: typer.core.TyperOption, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        result: str | None = original(self, ctx)
        if result is not None and result.startswith("<list[") and result.endswith("]>"):
            return "<" + result[len("<list[") : -len("]>")] + ">"  # repeatable: one value's type
        return result

    return display_type_rich


def _argument_type(original: Any) -> Any:
    def display_type_rich(self: typer.core.TyperArgument, ctx: Any) -> str | None:
        if self.nargs != 1:
            return None  # `[PROJECT]...` already says it repeats
        result: str | None = original(self, ctx)
        return result

    return display_type_rich


def _usage_name(self: typer.core.TyperArgument) -> str:
    name = self.display_name_raw.upper()
    if not self.required:
        name = f"[{name}]"
    if self.nargs != 1:
        name += "..."
    return name


def install() -> None:
    """Patch Typer's option and argument display once (idempotent)."""
    option, argument = typer.core.TyperOption, typer.core.TyperArgument
    if getattr(option, "_roundtable_help", False):
        return
    setattr(option, "display_type_rich", _flag_type(option.display_type_rich))  # noqa: B010
    setattr(argument, "display_type_rich", _argument_type(argument.display_type_rich))  # noqa: B010
    setattr(argument, "_usage_display_name", _usage_name)  # noqa: B010
    setattr(option, "_roundtable_help", True)  # noqa: B010
