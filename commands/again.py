"""What a command left undone, said so that it can be finished: the exact command line that runs it
again as it was given, what an interrupt or a failing store kept, and the orders the card bureau refused."""

from __future__ import annotations

import shlex
from collections import Counter
from typing import TYPE_CHECKING, Any

import click

from commands.shared import STORE_KEY, json_text
from engine.errors import StoreFailed, Unfinished

if TYPE_CHECKING:  # imported where used: the batch runtime loads the store
    from engine.batch.actions import ActionResult
    from engine.batch.request import RunRequest
    from engine.batch.results import BatchResult, Refusals
    from engine.definitions.model import Workspace


def command_again(
    replace: dict[str, Any] | None = None,
    *,
    drop: tuple[str, ...] = (),
    command: tuple[str, ...] | None = None,
    arguments: tuple[Any, ...] | None = None,
) -> str:
    """The exact command line that runs this command again as the operator gave it: its arguments and
    every option given on the command line or by the environment (defaults stay out), with `replace`d
    values and without the `drop`ped ones. With `command` (a path such as ("outbox", "retry")) it is that
    command instead, with `arguments` and the options of this one it shares. A password in a
    database URL is shown as *** (the environment or ~/.pgpass can give it)."""
    ctx = click.get_current_context()
    target = ctx.command if command is None else _command_at(ctx, command)
    replaced = replace or {}
    words: list[str] = ["cardflow", *(_command_path(ctx) if command is None else command)]
    options: list[str] = []
    for param in target.params:
        name = param.name or ""
        if isinstance(param, click.Argument):
            words += [str(item) for item in (_listed(ctx.params.get(name)) if command is None else arguments or ())]
        elif name not in drop and (name in replaced or _given(ctx, name)):
            options += _option_words(param, replaced.get(name, ctx.params.get(name)))
    return " ".join(shlex.quote(word) for word in [*words, *options])


def _given(ctx: click.Context, name: str) -> bool:
    """Whether the operator gave this command's option `name`, on the command line or by the environment."""
    from click.core import ParameterSource

    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return name in ctx.params and ctx.get_parameter_source(name) in given


def _command_at(ctx: click.Context, path: tuple[str, ...]) -> click.Command:
    found: Any = ctx.find_root().command
    for name in path:
        found = found.get_command(ctx, name)
    return found  # type: ignore[no-any-return]


def _command_path(ctx: click.Context) -> list[str]:
    names: list[str] = []
    while ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return names


def _listed(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else () if value is None else (value,)


def _option_words(param: click.Parameter, value: Any) -> list[str]:
    """An option and its value(s) as words of a command line."""
    flag = param.opts[0]
    if value is None or value is False:
        return []
    if getattr(param, "is_flag", False):
        return [flag]
    if param.name == "db":
        value = _without_password(str(value))
    return [word for item in _listed(value) for word in (flag, str(item))]


def _without_password(location: str) -> str:
    """A database URL with its password shown as ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(location) if "://" in location else None
    if parts is None or not parts.password:
        return location
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def tell_refusals(refusals: Refusals, again: str, note: str = "") -> bool:
    """Say on stderr how many orders the card bureau refused and how to order those cards again
    (`again`, when the workspace has a way); True when it refused every one: nothing the command was
    for was done, so it exits 1."""
    if not refusals.refused:
        return False
    how_many = f"every order ({refusals.refused})" if refusals.every else f"{refusals.refused} of {refusals.answered} orders"
    then = f": once the cause is fixed, `{again}`{note} orders them again" if again else note
    click.echo(
        f"cardflow: the card bureau refused {how_many}; those cards failed with its reasons (in the results){then}", err=True
    )
    return bool(refusals.every)


def reorder_command(
    workspace: Workspace,
    states: list[str | None],
    cards: list[Any],
    replace: dict[str, Any] | None = None,
    *,
    processes: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
) -> str:
    """The exact command that orders again the `cards` the bureau refused (into `states`): the trigger
    of the workspace that does it, with the options of this command it shares; "" when there is none."""
    from engine.definitions.shortcuts import reorder_trigger

    trigger = reorder_trigger(workspace, [state for state in states if state is not None], processes)
    if trigger is None:
        return ""
    return command_again(replace, command=(trigger,), arguments=tuple(cards), drop=drop)


def report_run(result: BatchResult, dry_run: bool, as_json: bool, workspace: Workspace) -> None:
    """Print a run's results; say what is left undone and the exact command that finishes it (exit 1),
    and how many orders the bureau refused (exit 1 when it refused every one)."""
    from engine.report.tables import render_batch, render_plan

    if as_json:
        click.echo(json_text(result.as_json()))
    else:
        click.echo(render_plan(result) if dry_run else render_batch(result))
    every_refused = tell_refusals(result.refusals, *_reorder_run(result, workspace))
    if result.stopped:  # the bureau stopped answering: work is left, say how to finish it
        click.echo(f"cardflow: {result.stopped}: `{command_again({'batch_id': result.batch})}`", err=True)
        click.get_current_context().exit(1)
    if result.counts["deferred"] and not dry_run:
        raise Unfinished(
            f"batch {result.batch} is incomplete: {result.counts['deferred']} card(s) wait for the card bureau; "
            f"resume with `{command_again({'batch_id': result.batch})}`"
        )
    if every_refused:
        click.get_current_context().exit(1)


def _reorder_run(result: BatchResult, workspace: Workspace) -> tuple[str, str]:
    """The exact command that orders again the cards whose orders the bureau refused in this run, or
    (when the results kept do not name them all) its form and where to find the cards."""
    refused = [(r.state, r.card) for r in result.results if r.order is False]
    return reorder_refused(workspace, refused, result.refusals, f"cardflow cards --batch {result.batch}", (result.process,))


def reorder_refused(
    workspace: Workspace,
    refused: list[tuple[str | None, Any]],
    refusals: Refusals,
    lists_them: str,
    processes: tuple[str, ...] = (),
    of: tuple[str, ...] = (),
) -> tuple[str, str]:
    """The exact command that orders again the (state, card)s the bureau `refused` in a run, or, when
    the results kept do not name all the run's `refusals`, its form and the command that `lists_them`
    (in the states where the cards of `processes`, or else of the processes `of`, land once refused)."""
    states = [state for state, _ in refused]
    if len(refused) == refusals.refused:
        return reorder_command(workspace, states, [card for _, card in refused], processes=processes), ""
    states = states or _refused_states(workspace, processes or of)
    again = reorder_command(workspace, states, ["CARD..."], processes=processes)
    return again, f" (`{lists_them}` lists them)" if again else ""


def _refused_states(workspace: Workspace, processes: tuple[str, ...]) -> list[str | None]:
    """The states a card of `processes` may be in once the bureau answered its order."""
    from engine.definitions.shortcuts import ordered_states

    found = [workspace.processes[name] for name in processes if name in workspace.processes]
    return [state for process in found for state in ordered_states(process)]


def done_before(kept: list[ActionResult]) -> str:
    """What a batch sync had written when it was interrupted, by the state each card reached."""
    reached = Counter(r.dest for r in kept if r.status == "done")
    if not reached:
        return "no card was ordered before it"
    return f"{sum(reached.values())} card(s) done before it are kept (" + ", ".join(f"{n} {s}" for s, n in reached.items()) + ")"


def interrupted(request: RunRequest, started: list[str]) -> Exception:
    """Ctrl-C during a run: what was kept, and the exact command that finishes the batch."""
    if request.dry_run:
        return Unfinished("interrupted: a dry run writes nothing")
    if not started:
        return Unfinished("interrupted before the batch was recorded: nothing was written")
    batch = started[0]
    return Unfinished(
        f"interrupted; batch {batch} is incomplete (the chunks done are kept, the chunk in work was not written): "
        f"resume with `{command_again({'batch_id': batch})}`"
    )


def store_failed(error: Exception, kept: str, again: str) -> Exception | None:
    """A database error while a command worked (a full disk, a restarted server): the store, the error
    in one line, what was `kept`, how to check the store (`check-store`, exactly) and the command that goes
    on once it is fixed (`again`), exit 2; None for any other error."""
    from engine.store.checks import from_the_database, one_line_error
    from engine.store.lock import is_locked

    if not from_the_database(error):
        return None
    store = click.get_current_context().find_root().meta.get(STORE_KEY, "?")
    checked = command_again(drop=("as_json",), command=("check-store",))
    check = "another program holds it" if is_locked(error) else f"`{checked}` checks it"
    return StoreFailed(f"the store {store} failed: {one_line_error(error)} ({check}); {kept}: once the store is fixed, {again}")


def batch_failed(error: Exception, request: RunRequest, started: list[str]) -> Exception | None:
    """A database error once a batch is written: it is incomplete, and the exact command resumes it."""
    if request.dry_run or not started:
        return None
    kept = f"batch {started[0]} is incomplete (the chunks done are kept, the chunk in work was not written)"
    return store_failed(error, kept, f"resume with `{command_again({'batch_id': started[0]})}`")
