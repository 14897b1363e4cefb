"""Triggers as commands: `cardflow TRIGGER CARD... --as ID` for every trigger an action process of
the workspace lets a person fire (approve, reject, abort, ... in the shipped workspace), all or none."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from commands.shared import (
    bureau_connector,
    connector_options,
    db_option,
    json_option,
    json_text,
    open_workspace,
    set_option,
    store_at,
    workspace_option,
)

if TYPE_CHECKING:
    from engine.definitions.shortcuts import Offer, Shortcut

ACTION_EXIT = (
    "Exit 1 when any card is refused (then nothing changes), or when the card bureau refused every "
    "order the action placed; when it refused some, exit 0 with a line saying how many."
)
#: what the help says of a reason, by the trigger's `reason` rule
REASON_RULES = {"required": "Required", "optional": "Optional", "none": "Not asked for"}
KEPT = "kept in the card's history (`cardflow explain`)."


def _role(offer: Offer) -> str:
    actor = offer.process.actor
    return "anyone" if actor == "any" else f"{actor} role"


def summary(shortcut: Shortcut) -> str:
    """The command's help: what each process offering the trigger does with it, and who may."""
    return " ".join(
        f"{offer.trigger.description.rstrip('.')} ({offer.process.name}: {_role(offer)})." for offer in shortcut.offers
    )


def reason_help(shortcut: Shortcut) -> str:
    """The help of --reason: whether a reason is needed, what it is for and where it goes (from the YAML)."""
    told = {(offer.trigger.reason, offer.trigger.reason_hint or KEPT): offer for offer in shortcut.offers}
    if len(told) == 1:
        ((rule, hint),) = told
        return f"{REASON_RULES[rule]}: {hint}"
    return " ".join(f"{REASON_RULES[rule]} ({offer.process.name}): {hint}" for (rule, hint), offer in told.items())


def shortcut_command(shortcut: Shortcut) -> click.Command:
    """The command that fires the shortcut's trigger on cards (all or none)."""
    trigger = shortcut.trigger

    @click.command(trigger, help=f"{summary(shortcut)}\n\n{ACTION_EXIT}", short_help=summary(shortcut))
    @click.argument("cards", nargs=-1, required=True, type=int)
    @click.option("--as", "actor", required=True, metavar="ID", help="Who does it.")
    @click.option("--reason", metavar="TEXT", help=reason_help(shortcut))
    @set_option
    @workspace_option
    @db_option
    @connector_options
    @json_option
    def command(
        cards: tuple[int, ...],
        actor: str,
        reason: str | None,
        sets: tuple[str, ...],
        workspace: str | None,
        db: str | None,
        connector: str | None,
        orders: str | None,
        as_json: bool,
    ) -> None:
        from commands.again import command_again, reorder_command, tell_refusals
        from engine.batch.actions import act
        from engine.batch.results import Refusals
        from engine.definitions.options import parse_sets
        from engine.errors import Unfinished
        from engine.report.tables import render_actions

        found = open_workspace(workspace, store=db)
        results = act(
            found,
            store_at(db),
            trigger,
            list(cards),
            actor,
            bureau_connector(connector, orders, found),
            reason=reason,
            overrides=parse_sets(sets, found.scripts),
        )
        click.echo(json_text([r.as_json() for r in results]) if as_json else render_actions(results))
        refused = [r for r in results if r.order is False]
        again = reorder_command(found, [r.dest for r in refused], [r.card for r in refused], drop=("reason",))
        every_refused = tell_refusals(Refusals.of(r.order for r in results), again)
        waiting = sum(1 for r in results if r.status == "deferred")
        if waiting:
            send = command_again(command=("calls", "send"), replace={"every": True})
            raise Unfinished(
                f"{waiting} card(s) wait for the answer of a call, each with its call pending (the workers try "
                f"again on their own): run `{send}` once the other side answers"
            )
        if every_refused:
            click.get_current_context().exit(1)

    return command


def given_workspace(args: list[str]) -> str | None:
    """The workspace whose triggers a command line's name is looked up in (read before the command is
    known): its --workspace, else $CARDFLOW_WORKSPACE, else the live release of its store (--db or
    $CARDFLOW_DB), if it has one; None for the folder every command finds."""
    import os

    given = _given(args, "--workspace") or os.environ.get("CARDFLOW_WORKSPACE")
    if given:
        return given
    from engine.releases.live import live_release
    from engine.store.checks import store_location

    live = live_release(store_location(_given(args, "--db")))
    return str(live[1]) if live else None


def _given(args: list[str], option: str) -> str | None:
    """The value of `option` on a command line, if it is there."""
    for number, word in enumerate(args):
        if word == "--":
            break
        if word == option and number + 1 < len(args):
            return args[number + 1]
        if word.startswith(f"{option}="):
            return word.partition("=")[2]
    return None


def workspace_shortcuts(path: str | None) -> tuple[dict[str, Shortcut], str | None]:
    """The triggers people fire in the workspace found as every command finds it (--workspace,
    $CARDFLOW_WORKSPACE, the current folder, the reference), and what is wrong with it when it has
    errors (a trigger of a process with errors is missing)."""
    from engine.definitions.cache import load_workspace_cached
    from engine.definitions.files import locate
    from engine.definitions.shortcuts import shortcuts

    workspace = load_workspace_cached(locate(path))
    problem = None if workspace.ok else f"the workspace {workspace.root} has errors; run `cardflow validate`"
    return shortcuts(workspace), problem


#: the built-in commands of this module: none (its commands are the workspace's triggers, made on demand)
COMMANDS: list[click.Command] = []
