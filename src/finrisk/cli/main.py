"""Entry point of the ``finrisk`` command; each sub-command lives in ``cli/commands/``."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="finrisk",
    help="finrisk: real-time risk decisions, features, rules, models, credit scoring and networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """finrisk: real-time risk decisions, features, rules, models, credit scoring and networks."""


# Command modules, in the order `finrisk --help` lists them.
_COMMANDS = [
    "init",
    "demo",
    "simulate",
    "load",
    "flush",
    "sql",
    "events",
    "features",
    "rules",
    "lists",
    "replay",
    "serve",
    "keys",
    "scoring",
    "models",
    "graph",
]

for _name in _COMMANDS:
    try:
        _module = importlib.import_module(f"finrisk.cli.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command still being written must not break the others
        if exc.name != f"finrisk.cli.commands.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
