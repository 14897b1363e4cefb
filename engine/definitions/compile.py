"""Stage 4, compile: a process plus its effective options become one shared `transitions` Machine.

Guards that read only options are decided here (folded): a transition whose guard is false under the options is
left out of the machine, one whose guard is true becomes unconditional, and only the rest keep a runtime condition.
Machines are cached per (definitions, process, options) fingerprint and shared by all cards: a card is a plain
record whose state is set on one reusable model per trigger before firing (never a Machine or `add_model` per card).

The last step of folding: when the options decide every candidate of a trigger in a state, nothing of the card
can change where the machine goes or what the trace says, so the machine's decision for the first such card is
kept and given to the others (their effects' `when` still read the card). A step whose runtime guards all read
one value of the card's scope (the bureau's `accepted`, queue off) is decided by it: its decision is kept per value.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from transitions import Machine

from engine.definitions.candidates import Candidate, compile_candidate, condition, keyed
from engine.definitions.closures import UNKNOWN, Reads, Scope
from engine.definitions.expressions import Compiled, parse
from engine.definitions.model import Effect, Process, Transition
from engine.definitions.options import EffectiveOptions


@dataclass(frozen=True)
class Decision:
    """What firing a trigger on a card did: the transition taken (if any) and why."""

    trigger: str
    source: str
    dest: str | None
    transition: Transition | None
    trace: list[dict[str, Any]]
    effects: list[Effect] = field(default_factory=list)
    key: tuple[Any, ...] = ()

    def with_effects(self, effects: list[Effect]) -> Decision:
        """The same decision with the effects chosen for one card (`dataclasses.replace` takes twice as long)."""
        return Decision(self.trigger, self.source, self.dest, self.transition, self.trace, effects, self.key)


class _Card:
    """The one reusable model per trigger: a card's state and scope are set on it before firing."""

    def __init__(self) -> None:
        self.state = ""
        self.scope: Scope = {}
        self.evaluated: dict[int, tuple[bool, Reads]] = {}
        self.recorded: dict[int, tuple[bool, Reads]] = {}
        self.fired: Candidate | None = None


@dataclass(frozen=True)
class CompiledProcess:
    """A batch process compiled under one set of options, ready to fire triggers on cards."""

    process: Process
    options: EffectiveOptions
    fingerprint: str
    machine: Machine = field(repr=False)
    candidates: Mapping[tuple[str, str], tuple[Candidate, ...]] = field(repr=False)
    models: Mapping[str, _Card] = field(repr=False)
    placed: Mapping[int, Candidate] = field(repr=False)
    exclusive: bool = False
    decided: dict[tuple[str, str], tuple[Decision, Candidate | None]] = field(default_factory=dict, repr=False)
    traces: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    records: dict[tuple[Any, ...], tuple[str, str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    keyed: dict[tuple[Any, ...], tuple[Decision, Candidate | None]] = field(default_factory=dict, repr=False)
    kept_reads: dict[tuple[Any, ...], tuple[Decision, Candidate | None]] = field(default_factory=dict, repr=False)
    kept_effects: dict[tuple[int, str], Decision] = field(default_factory=dict, repr=False)

    @cached_property
    def option_values(self) -> dict[str, Any]:
        """The options as guards read them (one dict for every card; never changed)."""
        return self.options.as_dict()

    def candidate_of(self, machine_transition: Any) -> Candidate:
        """The candidate a transition of the machine was built from."""
        return self.placed[id(machine_transition)]

    @property
    def group(self) -> str | None:
        """The exclusivity group whose rule holds under these options, else None."""
        return self.process.exclusive.group if self.exclusive and self.process.exclusive else None

    def open_key(self, user_id: str) -> str | None:
        """The key of an open card of `user_id` while the exclusivity rule holds (`GROUP:USER`), else None."""
        group = self.group
        return f"{group}:{user_id}" if group else None

    def can_fire(self, trigger: str, state: str) -> bool:
        """Whether some transition for `trigger` leaves `state` under these options."""
        event = self.machine.events.get(trigger)
        return bool(event and event.transitions.get(state))

    def fire(self, trigger: str, state: str, scope: Scope) -> Decision:
        """Fire `trigger` on a card in `state`; the decision says where it went and why."""
        decided = self.decided.get((trigger, state))
        if decided is None:
            probe = self._probes.get((trigger, state))
            if probe is None:
                decision = self.fire_machine(trigger, state, scope)
                if self.options_decide(trigger, state):
                    self.decided[(trigger, state)] = self._kept(decision)
                return decision
            key = keyed(probe, trigger, state, scope)
            decided = self.keyed.get(key)
            if decided is None:
                decision = self.fire_machine(trigger, state, scope)
                if len(self.keyed) < KEYED_LIMIT:
                    self.keyed[key] = self._kept(decision)
                return decision
        decision, effects_read_card = decided
        if effects_read_card is None:
            return decision
        return decision.with_effects(self._effects(effects_read_card, scope))

    def _kept(self, decision: Decision) -> tuple[Decision, Candidate | None]:
        """A decision as kept for reuse, with the candidate taken when its effects' `when` read the card."""
        fired = self._candidate_taken(decision)
        conditional = fired is not None and any(when is not None for _, when in fired.effects)
        return decision, fired if conditional else None

    @cached_property
    def _probes(self) -> dict[tuple[str, str], Compiled]:
        """Per step with runtime guards that all read the same one value (and nothing else of the
        card), the guard the machine evaluates first: evaluating it reads that value, and the value
        decides every guard, so the machine's decision can be kept per value read."""
        probes = {}
        for step, group in self.candidates.items():
            kept = [candidate for candidate in group if candidate.kept]
            runtime = [candidate.runtime for candidate in kept if candidate.runtime is not None]
            if not runtime or kept[0].runtime is None:
                continue
            read = {name for compiled in runtime for name in compiled.attributes}
            roots = {root for compiled in runtime for root in compiled.roots}
            if len(read) == 1 and roots == {next(iter(read))[0]}:
                probes[step] = kept[0].runtime
        return probes

    def kept_for(
        self,
        trigger: str,
        state: str,
        value: Mapping[str, Any],
        scope: Callable[[], Scope] | None = None,
        fields: str | None = None,
    ) -> Decision | None:
        """The decision the machine made for a card whose deciding root (`decided_by`) read `value`,
        kept once the machine made it; None before. Where its effects' `when` read the card, they are
        chosen in `scope()` (the card's; None without one), once for each text of the card's `fields`
        where they read nothing else of it."""
        probe = self._probes.get((trigger, state))
        if probe is None:
            return None
        ((root, name),) = probe.attributes  # the one value the probe reads decides the key: looked up by it once kept
        read = (trigger, state, name in value, repr(value.get(name)))
        if (decided := self.kept_reads.get(read)) is None:
            decided = self.keyed.get(keyed(probe, trigger, state, {root: value}))
            if decided is not None and len(self.kept_reads) < KEYED_LIMIT:
                self.kept_reads[read] = decided
        if decided is None or decided[1] is None:  # none kept, or kept whole (no effect's `when` reads the card)
            return None if decided is None else decided[0]
        return None if scope is None else self._with_effects(decided[0], decided[1], scope, fields)

    def _with_effects(self, decision: Decision, fired: Candidate, scope: Callable[[], Scope], fields: str | None) -> Decision:
        """`decision` with the effects of `fired` whose `when` hold for a card (`scope()`: its scope), kept
        per text of its `fields` where they read nothing else of the card (its declared fields, as stored)."""
        if fields is None or not fired.by_fields:
            return decision.with_effects(self._effects(fired, scope()))
        key = (id(decision), fields)
        found = self.kept_effects.get(key)
        if found is None:
            found = decision.with_effects(self._effects(fired, scope()))
            if len(self.kept_effects) < KEYED_LIMIT:
                self.kept_effects[key] = found
        return found

    def decided_by(self, trigger: str, state: str) -> str | None:
        """The one root (`printer`: a call's answer) whose value decides every runtime guard of
        `trigger` from `state`, read first when it is fired; None when the step has no such guards."""
        probe = self._probes.get((trigger, state))
        return next(iter(probe.roots)) if probe is not None else None

    def settled(self, trigger: str, state: str) -> Decision | None:
        """The decision every card in `state` gets for `trigger`, once known (the options decide it,
        no effect's `when` reads the card and it makes no call); None when the card must be fired
        with its scope."""
        decided = self.decided.get((trigger, state))
        if decided is None or decided[1] is not None or decided[0].transition is None:
            return None
        return decided[0] if decided[0].transition.invoke is None else None

    def call_of(self, trigger: str, state: str) -> str | None:
        """The call (CONNECTOR.OPERATION) the transitions of `trigger` from `state` declare, if any."""
        return self._calls.get((trigger, state))

    @cached_property
    def _calls(self) -> dict[tuple[str, str], str]:
        found = ((step, candidate.transition.invoke) for step, group in self.candidates.items() for candidate in group)
        return {step: invoke.text for step, invoke in found if invoke is not None}

    def options_decide(self, trigger: str, state: str) -> bool:
        """Whether the options alone decide every candidate of `trigger` in `state` (no runtime guard)."""
        return (trigger, state) in self._decided_by_options

    @cached_property
    def _decided_by_options(self) -> frozenset[tuple[str, str]]:
        return frozenset(step for step, group in self.candidates.items() if all(c.folded is not UNKNOWN for c in group))

    def fire_machine(self, trigger: str, state: str, scope: Scope) -> Decision:
        """Fire `trigger` through the machine, always (`fire` may reuse a decision the options made)."""
        model = self.models[trigger]
        model.state, model.scope, model.evaluated, model.recorded, model.fired = state, scope, {}, {}, None
        if self.can_fire(trigger, state) and self.machine.events[trigger].trigger(model):
            model.fired = self._fired(trigger, state, model)
        fired = model.fired
        self._complete(trigger, state, model)
        key = self._trace_key(trigger, state, model)
        trace = self.traces.get(key)
        if trace is None:
            trace = self.traces[key] = [self._entry(candidate, model) for candidate in self.candidates.get((trigger, state), ())]
        if fired is None:
            return Decision(trigger, state, None, None, trace, key=key)
        return Decision(trigger, state, fired.transition.dest, fired.transition, trace, self._effects(fired, scope), key)

    @staticmethod
    def _effects(fired: Candidate, scope: Scope) -> list[Effect]:
        return [effect for effect, when in fired.effects if when is None or when.truth(scope)[0]]

    def _candidate_taken(self, decision: Decision) -> Candidate | None:
        group = self.candidates.get((decision.trigger, decision.source), ())
        return next((candidate for candidate in group if candidate.transition is decision.transition), None)

    @staticmethod
    def _trace_key(trigger: str, state: str, model: _Card) -> tuple[Any, ...]:
        """What makes a trace differ between cards: the runtime results and the values they read."""
        runtime = tuple(
            (index, result, tuple((name, repr(value)) for name, value in reads))
            for found in (model.evaluated, model.recorded)
            for index, (result, reads) in sorted(found.items())
        )
        fired = model.fired.transition.index if model.fired else None
        return (trigger, state, fired, runtime)

    def _fired(self, trigger: str, state: str, model: _Card) -> Candidate | None:
        """The candidate the machine took: the first kept one whose guard held (the machine tries them in order)."""
        for candidate in self.candidates.get((trigger, state), ()):
            if candidate.folded is True or (candidate.kept and model.evaluated.get(candidate.transition.index, (False,))[0]):
                return candidate
        return None

    def _complete(self, trigger: str, state: str, model: _Card) -> None:
        """Evaluate, for the record, the runtime guards the machine did not need to evaluate.

        A root that is still `pending` (the bureau, not asked) counts as unknown, so recording a
        guard never places an order.
        """
        scope = None
        for candidate in self.candidates.get((trigger, state), ()):
            index = candidate.transition.index
            if candidate.runtime is not None and index not in model.evaluated:
                if scope is None:
                    scope = {name: UNKNOWN if getattr(value, "pending", False) else value for name, value in model.scope.items()}
                reads: Reads = []
                result = candidate.runtime.closure(scope, reads)
                if result is not UNKNOWN:
                    model.recorded[index] = (result, reads)

    def _entry(self, candidate: Candidate, model: _Card) -> dict[str, Any]:
        transition = candidate.transition
        entry: dict[str, Any] = {
            "transition": transition.index + 1,
            "dest": transition.dest,
            "guard": transition.guard.text if transition.guard else None,
            "at": str(transition.guard.location if transition.guard else transition.location),
        }
        if candidate.folded is not UNKNOWN:
            result, reads, stage = candidate.folded, list(candidate.option_reads), "options"
        elif transition.index in model.evaluated:
            (result, reads), stage = model.evaluated[transition.index], "runtime"
            reads = self._with_option_reads(candidate, reads)
        elif transition.index in model.recorded:
            (result, reads), stage = model.recorded[transition.index], "recorded"
            reads = self._with_option_reads(candidate, reads)
        else:
            result, reads, stage = None, list(candidate.option_reads), "not evaluated"
        entry["result"], entry["stage"] = result, stage
        entry["reads"] = [self._read(name, value) for name, value in reads]
        entry["fired"] = model.fired is candidate
        return entry

    @staticmethod
    def _with_option_reads(candidate: Candidate, reads: Reads) -> Reads:
        """What a runtime guard read: the options it read when folded, then what it read of the card."""
        return [*candidate.option_reads, *(read for read in reads if not read[0].startswith("options."))]

    def _read(self, name: str, value: Any) -> dict[str, Any]:
        root, _, attr = name.partition(".")
        source = self.options.provenance(attr) if root == "options" else root
        return {"name": name, "value": value, "source": source}


#: The most decisions kept per value read, over all steps of a compiled process (the values read
#: may be many, e.g. a guard on a user's attribute; beyond this, cards are fired through the machine).
KEYED_LIMIT = 256

#: The compiled machines kept, the least recently used dropped first: more than every process of a
#: workspace under the options a site runs with; `matrix` compiles one a combination of the options
#: (1,024 for the order process) and lets them go. Unbounded, a process that lives on (the console, a
#: fuzzer, a worker across workspace changes) kept every machine it ever compiled.
CACHE_SIZE = 256
_CACHE: OrderedDict[tuple[str, str, str, tuple[tuple[str, str], ...]], CompiledProcess] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def compile_process(process: Process, options: EffectiveOptions, definitions: str = "") -> CompiledProcess:
    """The compiled machine of a batch process under `options`, built once per fingerprint and
    provenance (the traces name where each option was set, so two sources are two machines)."""
    options = options.for_scripts(process.options)
    key = (definitions, process.symbolic_name, options.fingerprint, options.sources)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    found = _build(process, options, f"{definitions}:{options.fingerprint}")
    with _CACHE_LOCK:
        _CACHE[key] = found
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found


def forget(definitions: str) -> None:
    """Drop the machines compiled for the workspace of fingerprint `definitions` (one that will not run again)."""
    with _CACHE_LOCK:
        for key in [key for key in _CACHE if key[0] == definitions]:
            del _CACHE[key]


def _build(process: Process, options: EffectiveOptions, fingerprint: str) -> CompiledProcess:
    scope = {"options": options.as_dict()}
    machine = Machine(model=None, states=list(process.states), initial=process.initial, auto_transitions=False, send_event=True)
    candidates: dict[tuple[str, str], list[Candidate]] = {}
    placed: dict[int, Candidate] = {}
    for transition in process.transitions:
        candidate = compile_candidate(transition, scope, process.fields)
        for source in transition.source:
            candidates.setdefault((transition.trigger, source), []).append(candidate)
            if candidate.kept:
                machine.add_transition(
                    transition.trigger,
                    source,
                    transition.dest,
                    conditions=[condition(candidate)] if candidate.folded is UNKNOWN else [],
                )
                placed[id(machine.events[transition.trigger].transitions[source][-1])] = candidate
    models = {trigger: _Card() for trigger in {t.trigger for t in process.transitions}}
    frozen = {key: tuple(group) for key, group in candidates.items()}
    when = process.exclusive.when if process.exclusive else None
    exclusive = process.exclusive is not None and (when is None or parse(when.text).truth(scope)[0] is True)
    return CompiledProcess(process, options, fingerprint, machine, frozen, models, placed, exclusive)
