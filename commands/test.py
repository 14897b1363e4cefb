"""Testers: scenarios with coverage, differences between configurations, the outcome matrix, a card explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from commands.shared import (
    criterion_option,
    db_option,
    echo_json,
    json_option,
    json_text,
    open_reading,
    open_workspace,
    progress_bar,
    set_option,
    store_at,
    workspace_option,
)
from engine.testing.criteria import BASIC
from engine.testing.criteria import chosen as chosen_criteria


def default_scenarios(root: Path) -> Path:
    """tests/scenarios here, else the workspace's own (a site made by `cardflow init` has one)."""
    here = Path("tests/scenarios")
    return here if here.exists() else root / "tests" / "scenarios"


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--min-coverage", type=click.FloatRange(0, 100), metavar="PERCENT", help="Fail when a process is covered less.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Also write JUnit XML to FILE.")
@click.option("--mutants", "with_mutants", is_flag=True, help="Also run the suite against each mutant of the workspace.")
@click.option(
    "--min-mutation-score",
    type=click.FloatRange(0, 100),
    metavar="PERCENT",
    help="With --mutants: fail when fewer mutants are killed.",
)
@criterion_option(default=BASIC)
@workspace_option
@json_option
@click.pass_context
def test_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    min_coverage: float | None,
    junit: Path | None,
    with_mutants: bool,
    min_mutation_score: float | None,
    criteria: tuple[str, ...],
    workspace: str | None,
    as_json: bool,
) -> None:
    """Run scenarios (*.scenario.yaml; default: tests/scenarios) and report coverage of the rules.

    Each failed expectation is reported at its line in the scenario. Coverage per batch process:
    transitions fired (timers included), guard outcomes (true and false) seen, option values
    exercised, and what was never reached; --criterion adds MC/DC (each condition of a guard with
    several shown to decide it alone), transition pairs (one after the other on a card) and option
    pairs (two options' values in force together), or `all`. --min-coverage counts the criteria
    chosen, never rounded up. A file that cannot run is reported with its diagnostics, last, and counted
    as not run. Exits 1 on a failure, a scenario with diagnostics, or coverage below
    --min-coverage; 2 when PATHS hold no scenario file.

    --mutants then asks whether the suite would notice a wrong rule: each guard negated, each
    condition of an and/or guard dropped, each destination changed, each effect removed, each bool
    option flipped, one at a time, each run against the scenarios (a process per core) until one
    fails. The mutation score is the share killed; each survivor is listed at its YAML line.
    --min-mutation-score fails (exit 1) below it.
    """
    from engine.errors import UsageError
    from engine.testing.mutants import mutation_json, render_mutation, score
    from engine.testing.suite import junit_xml, render_suite, run_suite

    found = open_workspace(workspace)
    chosen = list(paths) or [default_scenarios(found.root)]
    missing = [str(path) for path in chosen if not path.exists()]
    if missing:
        raise UsageError(f"no such scenario file or folder: {', '.join(missing)}")
    if min_mutation_score is not None and not with_mutants:
        raise UsageError("--min-mutation-score needs --mutants")
    suite = run_suite(found, chosen, chosen_criteria(criteria))
    if junit:
        junit.write_bytes(junit_xml(suite))
    below = suite.below(min_coverage)
    broken = bool(suite.failed or suite.diagnostics)
    if with_mutants and broken:
        raise UsageError("the suite fails as it is: make it pass before asking what it would notice (--mutants)")
    verdicts = _mutation(found, suite) if with_mutants else []
    weak = with_mutants and min_mutation_score is not None and score(verdicts) < min_mutation_score
    if as_json:
        echo_json({**suite.as_json(), **({"mutants": mutation_json(verdicts)} if with_mutants else {})})
    else:
        click.echo(render_suite(suite))
        for entry in below:
            click.echo(f"coverage of {entry.process.symbolic_name} is {entry.shown}, below {min_coverage:g}%")
        if with_mutants:
            click.echo(render_mutation(verdicts))
        if weak:
            click.echo(f"mutation score {score(verdicts):.1f}% is below {min_mutation_score:g}%")
    ctx.exit(1 if broken or below or weak else 0)


def _mutation(found: Any, suite: Any) -> list[Any]:
    """The verdict on each mutant of the workspace, with a progress bar on a terminal."""
    from engine.testing.mutants import judge, mutants

    made = mutants(found)
    verdicts = []
    with progress_bar(len(made), "mutants") as advance:
        for verdict in judge(found, [result.scenario for result in suite.results], made):
            verdicts.append(verdict)
            if advance is not None:
                advance(1)
    return verdicts


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="The folder to write the scenarios in: a new one, or one generate wrote before (its files are replaced).",
)
@criterion_option(default=("all",))
@click.option(
    "--strength",
    type=click.IntRange(2, 6),
    default=2,
    show_default=True,
    metavar="N",
    help="Of the covering array of the option values: every N options meet in each of their values.",
)
@click.option(
    "--options",
    "every",
    type=click.Choice(["covering", "all"]),
    default="covering",
    show_default=True,
    help="all: every combination of the option values (exhaustive) instead of a covering array.",
)
@click.option(
    "--min-coverage", type=click.FloatRange(0, 100), metavar="PERCENT", help="Fail when the suite covers a process less."
)
@workspace_option
@json_option
@click.pass_context
def generate(
    ctx: click.Context,
    names: tuple[str, ...],
    out: Path,
    criteria: tuple[str, ...],
    strength: int,
    every: str,
    min_coverage: float | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Write scenarios that reach every target of the rules of each batch process NAME (default: all).

    For each combination of a covering array of the option values a process reads (pairwise by
    default), the compiled machine is searched for paths that reach what --criterion asks for
    (default all): every transition and timer, both outcomes of every guard, MC/DC of guards with
    several conditions, every pair of consecutive transitions, every pair of option values. Each
    combination is one scenario file, each path one user in it, under a comment naming what it
    reaches; each file is run once as it is written, and its expectations are what the engine did
    (a regression oracle: read and change them). The suite's coverage is shown, and every target
    no scenario reaches is named with why. Never-fire warnings (W206-W208) come first. Exits 1 when
    a written scenario fails its expectations or the coverage is below --min-coverage; 2 on a usage
    error (an unknown or action process, --out a file or a folder of a tester's own scenarios).
    """
    from engine.definitions.never_fire import check_never_fire
    from engine.testing.generated import generate as write_suite
    from engine.testing.generated import render_generated

    found = open_workspace(workspace)
    processes = batch_processes(found, names)
    warnings = list(check_never_fire({p.symbolic_name: p for p in processes}, found.scripts))
    with progress_bar(len(processes), "processes") as advance:
        result = write_suite(found, processes, out, chosen_criteria(criteria), None if every == "all" else strength, advance)
    below = [entry for entry in result.coverage() if min_coverage is not None and entry.percent < min_coverage]
    if as_json:
        echo_json({**result.as_json(), "warnings": [warning.as_json() for warning in warnings]})
    else:
        for warning in warnings:
            click.echo(str(warning))
        click.echo(render_generated(result, out, criteria))
        for entry in below:
            click.echo(f"coverage of {entry.process.symbolic_name} is {entry.shown}, below {min_coverage:g}%")
    ctx.exit(1 if result.suite.failed or below else 0)


def batch_processes(workspace: Any, names: tuple[str, ...]) -> list[Any]:
    """The batch processes named (every one when none is), each name checked."""
    from engine.errors import UsageError

    batch = [process for process in workspace.processes.values() if process.kind == "batch"]
    chosen = []
    for name in dict.fromkeys(names):
        process = workspace.process(name)  # an unknown name is a UsageError with the close one
        if process.kind != "batch":
            acts_on = ", ".join(process.acts_on)
            raise UsageError(f"{name} is an action process: its moves are generated with the processes it acts on ({acts_on})")
        chosen.append(process)
    if not chosen and not batch:
        raise UsageError("the workspace has no batch process to generate scenarios for")
    return chosen or batch


@click.command()
@click.argument("scenarios", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--left", "left_ws", required=True, type=click.Path(file_okay=False), metavar="WS", help="The workspace of the left side."
)
@click.option(
    "--right",
    "right_ws",
    type=click.Path(file_okay=False),
    metavar="WS",
    help="The workspace of the right side (default: --left).",
)
@click.option(
    "--population", metavar="PROCESS", help="Instead of scenarios: plan PROCESS for the users of the store (--db) on both sides."
)
@click.option("--where", metavar="EXPR", help="With --population: only the users matching EXPR.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="VAR=VALUE",
    help="Override an option on the right side only (the left keeps its values; the output says so). "
    "VALUE is YAML flow (false, [a, b]). Repeatable.",
)
@db_option
@json_option
@click.pass_context
def diff(
    ctx: click.Context,
    scenarios: tuple[Path, ...],
    left_ws: str,
    right_ws: str | None,
    population: str | None,
    where: str | None,
    sets: tuple[str, ...],
    db: str | None,
    as_json: bool,
) -> None:
    """Compare outcomes under two configurations: two workspaces, or one workspace and --set.

    Per user: the card states, emails and bureau orders that differ, the options that differ
    and the guards whose result flipped, with their YAML locations. Summary first, grouped by
    change. An email rendered differently (a changed template: subject, text or HTML) is a
    difference too, shown per template and locale as a text diff for one sample email. --set
    applies to the right side only. Exit 0 when both sides agree, 1 when they differ.
    """
    from engine.batch.request import Selection
    from engine.definitions.options import parse_sets
    from engine.errors import UsageError
    from engine.testing.diff import diff_population, diff_scenarios, load_scenarios, render_report

    left = open_workspace(left_ws)
    right = open_workspace(right_ws) if right_ws else left
    overrides = parse_sets(sets, right.scripts)
    if population and scenarios:
        raise UsageError("give scenarios or --population, not both")
    if population:
        selection = Selection(where=where) if where else Selection(all=True)
        report = diff_population(left, right, overrides, store_at(db, mode="read"), population, selection)
    elif scenarios:
        report = diff_scenarios(left, right, overrides, load_scenarios(list(scenarios), left))
    else:
        raise UsageError("give scenario files (or --population PROCESS)")
    click.echo(json_text(report.as_json()) if as_json else render_report(report))
    ctx.exit(0 if report.same else 1)


@click.command()
@click.argument("name")
@workspace_option
@set_option
@json_option
def matrix(name: str, workspace: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """The outcome of a batch process under every combination of the options it reads.

    Each bool is tried both ways and each enumerated option with each value; lists and options
    pinned with --set keep their value (shown as fixed). For a representative user, each row
    tells where `start` sends the card, every state it can end in, and flags (stuck states,
    documented outcomes no path reaches). The row of the options in force is marked with *
    (`in_force` in --json). A report: exits 0 even when rows are flagged.
    """
    from engine.definitions.options import parse_sets
    from engine.testing.matrix import outcome_matrix, render_matrix

    found = open_workspace(workspace)
    result = outcome_matrix(found, name, parse_sets(sets, found.scripts))
    click.echo(render_matrix(result)) if not as_json else echo_json(result.as_json())


@click.command()
@click.argument("card", type=int)
@click.option(
    "--format",
    "shape",
    type=click.Choice(["text", "mermaid", "html"]),
    default="text",
    show_default=True,
    help="text: the story in sentences; mermaid: the card's path on its process graph (its moves numbered on "
    "the edges, the states it passed through and the one it is in marked); html: one page with both, each move "
    "opening on its decision trace (save it: `> card.html`).",
)
@workspace_option
@db_option
@json_option
def explain(card: int, shape: str, workspace: str | None, db: str | None, as_json: bool) -> None:
    """Tell the story of a card: each step, who did it, and why it went where it did.

    A step the system did is told by the name of its process in the workspace. The path is drawn on the
    machine compiled for the options the card's batch ran with."""
    from engine.report.explain import card_story, render_story
    from engine.report.paths import card_path, mermaid_path
    from engine.report.story_page import story_page

    with open_reading(db) as connection:
        story = card_story(connection, card)
        if as_json:
            click.echo(json_text(story))
            return
        found = open_workspace(workspace, valid=shape != "text", store=db)
        path = card_path(found, connection, story) if shape != "text" else None
    names = {process.symbolic_name: process.name for process in found.processes.values()}
    if path is None:
        click.echo(render_story(story, names))
    else:
        click.echo(mermaid_path(path) if shape == "mermaid" else story_page(story, path, names))


COMMANDS: list[click.Command] = [test_command, generate, diff, matrix, explain]
