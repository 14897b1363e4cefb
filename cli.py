"""The `cardflow` command line: the root group, error handling and exit codes (0 ok, 1 content, 2 usage).

The commands live beside it in `commands/`, one module per persona (administer, operate, decide,
people, mail, test, demo, work, console); each parses, calls the engine, renders.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import click

from commands import administer, console, decide, demo, mail, operate, people, test, work
from commands.shared import STORE_KEY
from engine.diagnostics import one_line
from engine.errors import CardflowError
from engine.store.checks import one_line_error


def _from_the_database(error: BaseException) -> bool:
    """An error of the database or its driver (told as one line with the store's path, never SQL)."""
    return type(error).__module__.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg", "_sqlite3")


class CardflowGroup(click.Group):
    """Turns every error into a one-line message and an exit code; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CardflowError as error:
            click.echo(one_line(f"cardflow: {error.message}"), err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            sys.stderr.close()
            ctx.exit(1)
        except Exception as error:  # the promise: no traceback reaches a user
            if os.environ.get("CARDFLOW_DEBUG"):
                raise
            if _from_the_database(error):
                store = ctx.meta.get(STORE_KEY, "?")
                click.echo(f"cardflow: the store {store}: {one_line_error(error)} (`cardflow check-store` checks it)", err=True)
                ctx.exit(2)
            problem = f"{type(error).__name__}: {error}"
            click.echo(one_line(f"cardflow: internal error: {problem} (CARDFLOW_DEBUG=1 shows more)"), err=True)
            ctx.exit(2)


@click.group(cls=CardflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardflow")
def cli() -> None:
    """cardflow: declarative card processes for an identity manager.

    Administrators describe processes (processes/*.yaml) and options (rules/*.yaml);
    `cardflow validate` checks them and points at the line. Operators run processes by
    symbolic name; approvers decide requests; testers plan, test and diff outcomes.

    Exit codes: 0 success, 1 content problem (diagnostics, refusals, differences, unfinished work),
    2 usage error or unusable input.
    """


for persona in (administer, people, operate, decide, mail, test, demo, work, console):
    for command in persona.COMMANDS:
        cli.add_command(command)


def main() -> None:
    """Entry point of the `cardflow` console script."""
    gc.disable()  # until started_up: collections during the imports cost about a sixth of start-up
    cli(prog_name="cardflow")


if __name__ == "__main__":
    main()
