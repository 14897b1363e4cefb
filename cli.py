"""The `cardflow` command line: the root group, error handling and exit codes (0 ok, 1 content, 2 usage).

The commands live beside it in `commands/`, one module per persona (administer, operate, decide,
mail, test, demo, console); each parses, calls the engine, renders.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import click

from commands import administer, console, decide, demo, mail, operate, test
from engine.errors import CardflowError


class CardflowGroup(click.Group):
    """Turns every error into a one-line message and an exit code; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CardflowError as error:
            click.echo(f"cardflow: {error.message}", err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            sys.stderr.close()
            ctx.exit(1)
        except Exception as error:  # the promise: no traceback reaches a user
            if os.environ.get("CARDFLOW_DEBUG"):
                raise
            click.echo(f"cardflow: internal error: {type(error).__name__}: {error} (CARDFLOW_DEBUG=1 shows more)", err=True)
            ctx.exit(2)


@click.group(cls=CardflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardflow")
def cli() -> None:
    """cardflow: declarative card processes for an identity manager.

    Administrators describe processes (processes/*.yaml) and options (rules/*.yaml);
    `cardflow validate` checks them and points at the line. Operators run processes by
    symbolic name; approvers decide requests; testers plan, test and diff outcomes.

    Exit codes: 0 success, 1 content problem (diagnostics, refusals, differences),
    2 usage error or unusable input.
    """


for persona in (administer, operate, decide, mail, test, demo, console):
    for command in persona.COMMANDS:
        cli.add_command(command)


def main() -> None:
    """Entry point of the `cardflow` console script."""
    gc.disable()  # until started_up: collections during the imports cost about a sixth of start-up
    cli(prog_name="cardflow")


if __name__ == "__main__":
    main()
