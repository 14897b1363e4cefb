"""The compiled machine as a diagram: Mermaid (the default) or Graphviz dot, edges labelled by trigger and guard."""

from __future__ import annotations

from collections.abc import Iterator

from engine.definitions.compile import CompiledProcess
from engine.definitions.expressions import residual


def edges(compiled: CompiledProcess) -> Iterator[tuple[str, str, str]]:
    """(source, dest, label) of every transition in the compiled machine, in YAML order."""
    scope = {"options": compiled.options.as_dict()}
    found = []
    for trigger, event in compiled.machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                candidate = compiled.candidate_of(transition)
                guard = candidate.transition.guard
                condition = residual(guard.text, scope) if guard else None
                label = f"{trigger} [{condition}]" if condition else trigger
                found.append((candidate.transition.index, source, candidate.transition.dest, label))
    for _, source, dest, label in sorted(found, key=lambda edge: (edge[0], edge[1])):
        yield source, dest, label


def reached_states(compiled: CompiledProcess) -> list[str]:
    """States of the compiled machine reachable from its initial state, in YAML order."""
    reached, frontier = {compiled.process.initial}, [compiled.process.initial]
    pairs = list(edges(compiled))
    while frontier:
        state = frontier.pop()
        for source, dest, _ in pairs:
            if source == state and dest not in reached:
                reached.add(dest)
                frontier.append(dest)
    return [name for name in compiled.process.states if name in reached]


def mermaid(compiled: CompiledProcess) -> str:
    """A Mermaid state diagram of the compiled machine (states not reachable under the options left out)."""
    process = compiled.process
    states = reached_states(compiled)
    lines = ["stateDiagram-v2", f"    %% {process.symbolic_name} ({process.name}), options {compiled.options.fingerprint}"]
    lines += [f"    {name} : {name}" for name in states]
    lines.append(f"    [*] --> {process.initial}")
    lines += [f"    {source} --> {dest} : {label}" for source, dest, label in edges(compiled) if source in states]
    lines += [f"    {name} --> [*]" for name in states if process.states[name].final or process.states[name].handover]
    return "\n".join(lines)


def dot(compiled: CompiledProcess) -> str:
    """A Graphviz digraph of the compiled machine."""
    process = compiled.process
    states = reached_states(compiled)
    lines = [f'digraph "{process.symbolic_name}" {{', "  rankdir=LR;", '  node [shape=box, style="rounded"];']
    lines.append('  "__start" [shape=point, label=""];')
    for name in states:
        state = process.states[name]
        shape = ", peripheries=2" if state.final or state.handover else ""
        lines.append(f'  "{name}" [label="{name}"{shape}];')
    lines.append(f'  "__start" -> "{process.initial}";')
    for source, dest, label in edges(compiled):
        if source in states:
            lines.append(f'  "{source}" -> "{dest}" [label="{_dot_escape(label)}"];')
    lines.append("}")
    return "\n".join(lines)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
