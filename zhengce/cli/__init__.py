"""The `zhengce` command line. Each capability registers its commands from its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="zhengce",
    help="政策 — 威海市政策可执行化：政策匹配、测算、溯源。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# command modules (imported for their side effect: they add commands to `app`). Optional ones are
# skipped only when their module does not exist, never when it fails to import.
import importlib  # noqa: E402
import importlib.util  # noqa: E402

for _name in ("check", "catalog", "bulk", "ledger"):
    if _name == "check" or importlib.util.find_spec(f"zhengce.cli.{_name}") is not None:
        importlib.import_module(f"zhengce.cli.{_name}")


def main() -> None:  # pragma: no cover
    app()
