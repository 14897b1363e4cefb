"""The main job end to end on sample data."""

from __future__ import annotations

from pathlib import Path

import click

from commands.shared import open_workspace, workspace_option


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo store (default: a new temporary folder).",
)
@workspace_option
def demo(directory: Path | None, workspace: str | None) -> None:
    """The main job end to end on sample users: runs, approvals, an abort, the batch sync, a summary.

    Imports the shipped sample users into a fresh store (leaving them in DIR/users.csv), orders and requests cards with the
    default options and with the approval step on, approves and rejects some, aborts a queued
    card, runs the batch sync, and prints the cards by process and state.
    """
    import tempfile

    from engine.testing.demo import run_demo

    folder = directory or Path(tempfile.mkdtemp(prefix="cardflow-demo-"))
    for line in run_demo(open_workspace(workspace), folder):
        click.echo(line)


COMMANDS: list[click.Command] = [demo]
