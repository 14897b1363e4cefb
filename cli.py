"""The `cardflow` command line: parse, call the engine, render, exit (0 ok, 1 content, 2 usage)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from engine.errors import CardflowError

F = Callable[..., Any]


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
        except Exception as error:  # the promise: no traceback reaches a user
            if os.environ.get("CARDFLOW_DEBUG"):
                raise
            click.echo(f"cardflow: internal error: {type(error).__name__}: {error} (CARDFLOW_DEBUG=1 shows more)", err=True)
            ctx.exit(2)


def workspace_option(function: F) -> F:
    return click.option(
        "--workspace",
        envvar="CARDFLOW_WORKSPACE",
        type=click.Path(file_okay=False),
        help="Workspace folder (processes/, rules/, templates/email/). Default: the current folder if it "
        "holds processes/, else the reference workspace shipped with cardflow.",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print stable JSON for scripts.")(function)


def set_option(function: F) -> F:
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="VAR=VALUE",
        help="Override an option for this command; VALUE is YAML flow (false, [a, b]). Repeatable.",
    )(function)


def _workspace(path: str | None, *, valid: bool = True) -> Any:
    from engine.workspace import load_workspace, locate

    workspace = load_workspace(locate(path))
    return workspace.require_valid() if valid else workspace


def _options(workspace: Any, sets: tuple[str, ...]) -> Any:
    from engine.options import effective_options, parse_sets

    return effective_options(workspace.scripts, parse_sets(sets, workspace.scripts))


def _echo_json(data: Any) -> None:
    from engine.report import to_json

    click.echo(to_json(data))


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


@cli.command()
@workspace_option
@json_option
@click.pass_context
def validate(ctx: click.Context, workspace: str | None, as_json: bool) -> None:
    """Check every process and option script; print FILE:LINE:COL: CODE message.

    Exits 0 when there is no error, 1 when there are diagnostics.
    """
    found = _workspace(workspace, valid=False)
    if as_json:
        _echo_json([item.as_json() for item in found.diagnostics])
    else:
        for item in found.diagnostics:
            click.echo(str(item))
    errors = sum(1 for item in found.diagnostics if item.severity == "error")
    summary = f"{len(found.processes)} processes, {len(found.scripts)} option scripts in {found.root}"
    click.echo(f"cardflow: {errors} error(s); {summary}" if errors else f"cardflow: ok; {summary}", err=True)
    ctx.exit(1 if errors else 0)


@cli.command()
@workspace_option
@json_option
def processes(workspace: str | None, as_json: bool) -> None:
    """List the processes of the workspace by symbolic name."""
    from engine.report import process_row, table

    rows = [process_row(process) for process in _workspace(workspace).processes.values()]
    if as_json:
        _echo_json(rows)
        return
    columns = ["symbolic_name", "kind", "name", "actor", "outcome"]
    click.echo(table(columns, [[row[c] for c in columns] for row in rows]))


@cli.command()
@click.argument("name")
@workspace_option
@set_option
@json_option
def show(name: str, workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Show one process: metadata, options with their values, states and transitions."""
    from engine.report import process_detail, render_detail

    found = _workspace(workspace)
    detail = process_detail(found.process(name), _options(found, sets))
    click.echo(render_detail(detail)) if not as_json else _echo_json(detail)


@cli.command()
@workspace_option
@set_option
@json_option
def options(workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Show every option variable's effective value and where it came from.

    SOURCE is `default`, the FILE:LINE of a `value:` in rules/, or `--set`.
    """
    from engine.report import option_rows, table

    rows = option_rows(_options(_workspace(workspace), sets))
    if as_json:
        _echo_json(rows)
        return
    click.echo(
        table(["variable", "value", "source", "option"], [[r["variable"], r["value"], r["source"], r["option"]] for r in rows])
    )


@cli.command()
@click.argument("name")
@click.option("--format", "form", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@workspace_option
@set_option
def graph(name: str, form: str, workspace: str | None, sets: tuple[str, ...]) -> None:
    """Draw the compiled machine of a batch process under the effective options.

    Transitions that the options rule out are left out; guards the options decide are
    dropped from the labels, so what remains is what can happen at run time.
    """
    from engine.compile import compile_process
    from engine.errors import UsageError
    from engine.report import dot, mermaid

    found = _workspace(workspace)
    process = found.process(name)
    if process.kind != "batch":
        targets = ", ".join(process.acts_on)
        raise UsageError(f"{name} is an action process with no machine of its own; it acts on {targets}")
    compiled = compile_process(process, _options(found, sets), found.fingerprint)
    click.echo(mermaid(compiled) if form == "mermaid" else dot(compiled))


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Copy the reference workspace into DIRECTORY for a site to edit."""
    from engine.workspace import init_workspace

    for path in init_workspace(directory):
        click.echo(f"created {path}")


@cli.command()
@workspace_option
@click.pass_context
def demo(ctx: click.Context, workspace: str | None) -> None:
    """The main job on the embedded default: validate the workspace and show its processes."""
    ctx.invoke(validate, workspace=workspace, as_json=False)


def main() -> None:
    """Entry point of the `cardflow` console script."""
    cli(prog_name="cardflow")


if __name__ == "__main__":
    sys.exit(main())
