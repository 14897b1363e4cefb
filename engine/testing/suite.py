"""`cardflow test`: run scenario files, check their expectations, and measure coverage of the rules."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from engine.definitions.model import Workspace
from engine.diagnostics import Diagnostic, sort_unique
from engine.errors import UsageError
from engine.store.queries import Row
from engine.testing.coverage import ProcessCoverage, measure
from engine.testing.scenario import ScenarioResult, find_scenarios, load_scenario, result_json, run_scenario


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


def run_suite(workspace: Workspace, paths: list[Path]) -> Suite:
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
    suite.diagnostics = sort_unique(suite.diagnostics)
    traces = (t for r in suite.results for t in r.outcome.traces)
    suite.coverage = measure(workspace.processes.values(), traces, (t for r in suite.results for t in r.outcome.timers))
    return suite


def render_suite(suite: Suite) -> str:
    """The test run for a reader: one line per scenario, failures located, coverage, then the diagnostics
    of the files that could not run, last, above the count that names them."""
    lines = []
    for result in suite.results:
        lines.append(f"{'PASS' if result.passed else 'FAIL'} {result.scenario.file}  {result.scenario.name}")
        lines += [f"  {failure}" for failure in result.failures]
    lines += ["", "Coverage:"] if suite.results else []
    for entry in suite.coverage if suite.results else []:
        transitions = f"transitions {len(entry.fired)}/{len(entry.process.transitions)}"
        guards = f"guard outcomes {len(entry.outcomes)}/{2 * len(entry.guarded)}"
        declared = entry.declared_timers
        timed = f", timers {len(entry.timers & set(declared))}/{len(declared)}" if declared else ""
        lines.append(f"  {entry.process.symbolic_name}  {entry.shown}  {transitions}, {guards}{timed}")
        for name, values in sorted(entry.option_values.items()):
            lines.append(f"    {name}: {', '.join(sorted(values))}")
        lines += [f"    never: {gap}" for gap in entry.missing()]
    lines += [str(d) for d in suite.diagnostics]
    counts = f"{len(suite.results)} scenarios: {len(suite.results) - len(suite.failed)} passed, {len(suite.failed)} failed"
    not_run = f", {suite.not_run} not run (errors above)" if suite.not_run else ""
    lines.append(counts + not_run)
    return "\n".join(lines)


def junit_xml(suite: Suite) -> bytes:
    """The results as JUnit XML, one testcase per scenario."""
    root = ElementTree.Element("testsuite", name="cardflow", tests=str(len(suite.results)), failures=str(len(suite.failed)))
    for result in suite.results:
        case = ElementTree.SubElement(root, "testcase", classname=result.scenario.file, name=result.scenario.name)
        for failure in result.failures:
            ElementTree.SubElement(case, "failure", message=failure.message).text = str(failure)
    for found in suite.diagnostics:
        case = ElementTree.SubElement(root, "testcase", classname=found.location.file, name="load")
        ElementTree.SubElement(case, "error", message=found.message).text = str(found)
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
