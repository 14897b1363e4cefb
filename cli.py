"""The `cardflow` command line: the root group, error handling and exit codes (0 ok, 1 content, 2 usage).

The commands live beside it in `commands/`, one module per persona (administer, operate, people,
mail, calls, test, demo, work, console); each parses, calls the engine, renders. Any other name is a trigger
that an action process of the workspace lets a person fire (`commands/fire.py`): the workspace is
read only then, or for `--help`. A built-in command's name wins over a trigger of the same name.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from commands.shared import ANSWERED_KEY, JSON_KEY, STORE_KEY
from engine.diagnostics import did_you_mean, one_line
from engine.errors import CardflowError, error_json
from engine.store.checks import from_the_database, one_line_error

if TYPE_CHECKING:
    from engine.definitions.shortcuts import Shortcut


def _what_next(error: BaseException) -> str:
    """After a database error: a locked store is busy (another program holds it), never damaged."""
    from engine.store.lock import is_locked

    if is_locked(error):
        return " (another program holds it; try again once it is done)"
    return " (`cardflow check-store` checks it)"


#: the persona module of each command, imported only when that command runs (or `--help` lists them all)
COMMANDS = {
    **dict.fromkeys(
        ["check-store", "validate", "processes", "show", "options", "graph", "init", "upgrade-workspace"], "administer"
    ),
    **dict.fromkeys(["users"], "people"),
    **dict.fromkeys(["run", "plan", "queue", "orders", "cards"], "operate"),
    **dict.fromkeys(["batches"], "batches"),
    **dict.fromkeys(["outbox", "preview"], "mail"),
    **dict.fromkeys(["calls"], "calls"),
    **dict.fromkeys(["timers"], "timers"),
    **dict.fromkeys(["test", "generate", "diff", "matrix", "explain"], "test"),
    **dict.fromkeys(["demo"], "demo"),
    **dict.fromkeys(["worker"], "work"),
    **dict.fromkeys(["serve"], "console"),
    **dict.fromkeys(["incidents"], "watch"),
    **dict.fromkeys(["publish", "releases", "release"], "releases"),
}


SHORTCUTS_KEY = "cardflow.shortcuts"  # the workspace's triggers people fire, once read
WORKSPACE_KEY = "cardflow.workspace"  # the --workspace given to the command, read before it is known
UNREAD_KEY = "cardflow.unread"  # why the workspace's triggers could not be read
TRIGGERS_TITLE = "Triggers (the workspace's; cardflow TRIGGER CARD... --as ID, all cards or none)"
HIDDEN = "{names}: fired with `cardflow run PROCESS --card ID... --trigger NAME` (the command of that name comes first)."


class CardflowGroup(click.Group):
    """Turns every error into a one-line message and an exit code; never a traceback. Its commands
    are loaded lazily (click's documented pattern): a command imports its persona's module alone,
    and a name that is no built-in command is looked up among the workspace's triggers."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.triggers(ctx)})

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            from commands.fire import given_workspace

            ctx.meta[WORKSPACE_KEY] = given_workspace(args[1:])
            triggers = self.triggers(ctx)
            if name not in triggers:
                known = [*COMMANDS, *triggers]
                unread = ctx.meta.get(UNREAD_KEY)
                why = f" (the workspace's triggers are not known: {unread})" if unread else ""
                ctx.fail(f"no such command '{name}'{did_you_mean(name, known)}{why}; `cardflow --help` lists them")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return self.trigger_command(ctx, cmd_name)
        persona = importlib.import_module(f"commands.{COMMANDS[cmd_name]}")
        command: click.Command = next(command for command in persona.COMMANDS if command.name == cmd_name)
        return command

    def triggers(self, ctx: click.Context) -> dict[str, Shortcut]:
        """The workspace's triggers people fire, by name, read once (none when it cannot be read:
        the command that needs it then says why)."""
        meta = ctx.find_root().meta
        if SHORTCUTS_KEY not in meta:
            from commands.fire import workspace_shortcuts

            try:
                meta[SHORTCUTS_KEY], meta[UNREAD_KEY] = workspace_shortcuts(meta.get(WORKSPACE_KEY))
            except CardflowError as error:
                meta[SHORTCUTS_KEY], meta[UNREAD_KEY] = {}, str(error)
        found: dict[str, Shortcut] = meta[SHORTCUTS_KEY]
        return found

    def trigger_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command firing the workspace's trigger `name`, unless a built-in command has that name."""
        from commands.fire import shortcut_command

        shortcut = self.triggers(ctx).get(name)
        return None if shortcut is None or name in COMMANDS else shortcut_command(shortcut)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """`--help` lists the built-in commands, then the workspace's triggers (and any a built-in hides)."""
        triggers = self.triggers(ctx)
        for title, names in (("Commands", sorted(COMMANDS)), (TRIGGERS_TITLE, [t for t in triggers if t not in COMMANDS])):
            found = [(name, command) for name in names if (command := self.get_command(ctx, name)) is not None]
            if found:
                limit = formatter.width - 6 - max(len(name) for name, _ in found)
                with formatter.section(title):
                    formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in found])
        hidden = sorted(name for name in triggers if name in COMMANDS)
        if hidden:
            with formatter.section("Triggers named like a command"):
                formatter.write_text(HIDDEN.format(names=", ".join(hidden)))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CardflowError as error:
            _refuse(ctx, error.as_json(), error.lines(), error.exit_code)
        except click.exceptions.ClickException as error:  # click prints it on stderr; with --json, stdout has it too
            _tell_json(ctx, error_json("usage", error.format_message()))
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            sys.stderr.close()
            ctx.exit(1)
        except Exception as error:  # the promise: no traceback reaches a user
            if os.environ.get("CARDFLOW_DEBUG"):
                raise
            if from_the_database(error):
                store = ctx.meta.get(STORE_KEY, "?")
                message = f"the store {store}: {one_line_error(error)}{_what_next(error)}"
                _refuse(ctx, error_json("store", message), [message], 2)
            message = one_line(f"internal error: {type(error).__name__}: {error} (CARDFLOW_DEBUG=1 shows more)")
            _refuse(ctx, error_json("internal", message), [message], 2)


def _refuse(ctx: click.Context, document: dict[str, Any], lines: list[str], exit_code: int) -> NoReturn:
    """End the command with an error: its lines on stderr (one, but for a list of problems) and, with --json,
    its JSON on stdout."""
    _tell_json(ctx, document)
    for line in lines:
        click.echo(one_line(f"cardflow: {line}"), err=True)
    ctx.exit(exit_code)


def _tell_json(ctx: click.Context, document: dict[str, Any]) -> None:
    """With --json, the error as JSON on stdout, unless the command's answer is already there."""
    if ctx.meta.get(JSON_KEY) and not ctx.meta.get(ANSWERED_KEY):
        from engine.report.tables import to_json

        click.echo(to_json(document))


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


def main() -> None:
    """Entry point of the `cardflow` console script."""
    gc.disable()  # until started_up: collections during the imports cost about a sixth of start-up
    try:
        cli(prog_name="cardflow")
    finally:  # the exit frees what the command made: no last collection over it (60 ms after a large batch)
        gc.freeze()


if __name__ == "__main__":
    main()
