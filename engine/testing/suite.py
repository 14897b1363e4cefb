"""`cardflow test`: run scenario files, check their expectations, and measure coverage of the rules."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.definitions.model import Workspace
from engine.definitions.options import effective_options
from engine.diagnostics import Diagnostic, sort_unique
from engine.errors import UsageError
from engine.store.queries import Row
from engine.testing.coverage import ProcessCoverage, measure
from engine.testing.criteria import BASIC
from engine.testing.scenario import ScenarioResult, find_scenarios, load_scenario, result_json, run_scenario

#: the criteria beyond transitions and guard outcomes, as the coverage lines name them
LABELS = {"mcdc": "MC/DC", "transition-pairs": "transition pairs", "option-pairs": "option pairs"}


@dataclass
class Suite:
    """The results of a test run: per scenario, diagnostics of files that could not run, coverage."""

    results: list[ScenarioResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    coverage: list[ProcessCoverage] = field(default_factory=list)
    not_run: int = 0  # scenario files whose diagnostics kept them from running

    @property
    def failed(self) -> list[ScenarioResult]:
        return [result for result in self.results if not result.passed]

    def below(self, minimum: float | None) -> list[ProcessCoverage]:
        return [entry for entry in self.coverage if minimum is not None and entry.percent < minimum]

    def as_json(self) -> Row:
        return {
            "scenarios": [result_json(result) for result in self.results],
            "diagnostics": [d.as_json() for d in self.diagnostics],
            "coverage": [entry.as_json() for entry in self.coverage],
            "passed": len(self.results) - len(self.failed),
            "failed": len(self.failed),
            "not_run": self.not_run,
        }


def run_suite(workspace: Workspace, paths: list[Path], criteria: tuple[str, ...] = BASIC) -> Suite:
    """Load every scenario under `paths`, run the valid ones, and measure coverage over all of them.
    No scenario file under `paths` at all is a UsageError, not an empty success."""
    suite = Suite()
    files = find_scenarios(paths)
    if not files:
        raise UsageError(f"no scenario files (*.scenario.yaml) in {', '.join(str(path) for path in paths)}")
    for path in files:
        scenario, found = load_scenario(path, workspace)
        suite.diagnostics += found
        if scenario is not None:
            suite.results.append(run_scenario(workspace, scenario))
        else:
            suite.not_run += 1
    return measured(workspace, suite, criteria)


def measured(workspace: Workspace, suite: Suite, criteria: tuple[str, ...] = BASIC) -> Suite:
    """The suite with its diagnostics sorted and the coverage of its results measured."""
    suite.diagnostics = sort_unique(suite.diagnostics)
    lives = (life for result in suite.results for life in result.outcome.lives)
    timers = (timer for result in suite.results for timer in result.outcome.timers)
    in_force = (pair for result in suite.results for pair in options_in_force(workspace, result))
    suite.coverage = measure(workspace, lives, timers, in_force, criteria)
    return suite


def options_in_force(workspace: Workspace, result: ScenarioResult) -> Iterator[tuple[str, dict[str, Any]]]:
    """The option values a scenario ran its processes under: its own, and each step's `set` on top
    (for every process with a card in the scenario)."""
    processes = sorted({process for process, _ in result.outcome.lives})
    base = result.scenario.options
    for values in [base, *({**base, **step.data["set"]} for step in result.scenario.steps if step.data.get("set"))]:
        full = effective_options(workspace.scripts, values).as_dict()
        yield from ((process, full) for process in processes)


def render_suite(suite: Suite) -> str:
    """The test run for a reader: one line per scenario, failures located, coverage, then the diagnostics
    of the files that could not run, last, above the count that names them."""
    lines = []
    for result in suite.results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'} {result.scenario.file}  {result.scenario.name}")
        lines += [f"  {failure}" for failure in result.failures]
    lines += ["", "Coverage:"] if suite.results else []
    for entry in suite.coverage if suite.results else []:
        lines.append(f"  {entry.process.symbolic_name}  {render_coverage(entry)}")
        for name, values in sorted(entry.option_values.items()):
            lines.append(f"    {name}: {', '.join(sorted(values))}")
        missing = entry.missing()
        if entry.ran:
            lines += [f"    never: {gap}" for gap in missing]
        else:  # a process none of these scenarios ran: one line, not every target of it
            lines.append(f"    no scenario ran it ({len(missing)} targets: --json lists them)")
    lines += [str(d) for d in suite.diagnostics]
    counts = f"{len(suite.results)} scenarios: {len(suite.results) - len(suite.failed)} passed, {len(suite.failed)} failed"
    not_run = f", {suite.not_run} not run (errors above)" if suite.not_run else ""
    lines.append(counts + not_run)
    return "\n".join(lines)


def render_coverage(entry: ProcessCoverage) -> str:
    """One process's coverage on a line: the percentage, then each criterion's count."""
    transitions = f"transitions {len(entry.fired)}/{len(entry.process.transitions)}"
    guards = f"guard outcomes {len(entry.outcomes)}/{2 * len(entry.guarded)}"
    declared = entry.declared_timers
    timed = f", timers {len(entry.timers & set(declared))}/{len(declared)}" if declared else ""
    extra = "".join(f", {LABELS[name]} {'/'.join(map(str, entry.counts(name)))}" for name in entry.criteria if name in LABELS)
    return f"{entry.shown}  {transitions}, {guards}{timed}{extra}"


def junit_xml(suite: Suite) -> bytes:
    """The results as JUnit XML: a testcase per scenario, and per process a testcase per coverage
    criterion counted, failed with the targets it missed."""
    cases = len(suite.results) + sum(len(entry.criteria) for entry in suite.coverage) + len(suite.diagnostics)
    short = len(suite.failed) + sum(bool(entry.missed(c)) for entry in suite.coverage for c in entry.criteria)
    root = ElementTree.Element("testsuite", name="cardflow", tests=str(cases), failures=str(short))
    for result in suite.results:
        case = ElementTree.SubElement(root, "testcase", classname=result.scenario.file, name=result.scenario.name)
        for failure in result.failures:
            ElementTree.SubElement(case, "failure", message=failure.message).text = str(failure)
    for entry in suite.coverage:
        for criterion in entry.criteria:  # each criterion's targets a testcase, so a CI shows what was missed
            case = ElementTree.SubElement(root, "testcase", classname=f"coverage.{entry.process.symbolic_name}", name=criterion)
            missed = [entry.described(criterion, t) for t in entry.missed(criterion)]
            if missed:
                reached, total = entry.counts(criterion)
                message = f"{criterion}: {reached} of {total} targets reached"
                ElementTree.SubElement(case, "failure", message=message).text = "\n".join(missed)
    for found in suite.diagnostics:
        case = ElementTree.SubElement(root, "testcase", classname=found.location.file, name="load")
        ElementTree.SubElement(case, "error", message=found.message).text = str(found)
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
