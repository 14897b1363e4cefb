"""The typed data between stages: frozen dataclasses built from validated documents.

Each dataclass mirrors one schema of `engine.definitions.schemas` (a test proves the keys agree); expression
sources stay text here and are parsed by `engine.definitions.check`, which reports where they fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from engine.definitions.declared import Calendar, Connector, Role, Timer
from engine.definitions.document import Document
from engine.diagnostics import Diagnostic, Location, did_you_mean
from engine.diagnostics import Source as Source
from engine.effects.base import Effect as Effect
from engine.errors import UsageError, WorkspaceInvalid


@dataclass(frozen=True)
class Transition:
    """One edge of the card lifecycle; `index` is its position in the YAML list."""

    index: int
    trigger: str
    source: tuple[str, ...]
    dest: str
    guard: Source | None
    effects: tuple[Effect, ...]
    location: Location
    #: the external call (CONNECTOR.OPERATION) made when this transition is tried; its guard reads the answer
    invoke: Source | None = None

    @property
    def label(self) -> str:
        return f"#{self.index + 1} ({self.trigger}: {'|'.join(self.source)} -> {self.dest})"


@dataclass(frozen=True)
class State:
    """A card state a process drives: initial, final (the order is closed) or a handover."""

    name: str
    description: str
    initial: bool = False
    final: bool = False
    handover: str | None = None
    location: Location = field(default=Location(""), compare=False)
    #: what happens at a time while a card is in the state (engine.definitions.timers)
    timers: tuple[Timer, ...] = ()
    #: a card here needs a person (`cardflow incidents`): what they do about it
    incident: str | None = None


@dataclass(frozen=True)
class Trigger:
    """A trigger a process fires, and whether a reason must come with it."""

    name: str
    description: str
    reason: str = "none"
    location: Location = field(default=Location(""), compare=False)
    #: the bureau's order status that fires it (the order-status sync), if any
    bureau_status: str | None = None
    #: what a reason given with it is for and where it goes (the help of the command that fires it)
    reason_hint: str | None = None
    #: the console's button for it (else its name, capitalized), and that label in Swedish
    label: str | None = None
    sv: str | None = None

    @property
    def button(self) -> str:
        """What the console's button for this trigger says."""
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Prerequisite:
    """A rule on the user (or card) that must hold, with the message shown when it does not."""

    rule: Source
    message: str
    sv: str | None = None  # the message in Swedish, for the console


@dataclass(frozen=True)
class CardField:
    """A card field a card-creating process declares (engine.definitions.fields): its type, the values
    it may take (None: any of its type), what it is for."""

    name: str
    type: str
    values: tuple[Any, ...] | None
    description: str
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class ProductionType:
    """Where the production types come from and whether the operator selects one."""

    choices: Source
    selectable: Source


@dataclass(frozen=True)
class Exclusive:
    """One open card per user across the processes of `group`, while `when` holds (None: always)."""

    group: str
    when: Source | None
    location: Location


@dataclass(frozen=True)
class Process:
    """A process definition: metadata, prerequisites and, for batch processes, the card lifecycle."""

    symbolic_name: str
    name: str
    package: str
    component: str
    start: str
    description: str
    outcome: tuple[str, ...]
    kind: str
    actor: str
    options: tuple[str, ...]
    acts_on: tuple[str, ...]
    creates: str | None  # the trigger that creates a card, when the YAML names it
    triggers: dict[str, Trigger]
    production_type: ProductionType | None
    exclusive: Exclusive | None
    prerequisites: tuple[Prerequisite, ...]
    states: dict[str, State]
    transitions: tuple[Transition, ...]
    fields: dict[str, CardField]
    sv: dict[str, str]  # the name and description in Swedish, for the console
    document: Document = field(repr=False, compare=False)
    lifecycle: str | None = None  # the shared lifecycle its states and transitions come from (lifecycles/)
    aliases: tuple[str, ...] = ()  # the names it was known by before

    @cached_property
    def initial(self) -> str:
        return next(state.name for state in self.states.values() if state.initial)

    @cached_property
    def finals(self) -> frozenset[str]:
        return frozenset(state.name for state in self.states.values() if state.final)

    @cached_property
    def timed(self) -> dict[str, tuple[Timer, ...]]:  # the timers of each state that has some
        return {state.name: state.timers for state in self.states.values() if state.timers}

    @cached_property
    def prerequisites_count_open(self) -> bool:
        """Whether a prerequisite reads the user's `open_cards` (else a run need not count them for it)."""
        return any(_reads_open_cards(prerequisite.rule) for prerequisite in self.prerequisites)

    @cached_property
    def steps_count_open(self) -> frozenset[tuple[str, str]]:
        """The steps (trigger, source state) whose guard or effect's `when` reads the holder's
        `open_cards`, or whose `fire` effect reaches other cards (whose rules may read it)."""
        return frozenset(
            (t.trigger, source)
            for t in self.transitions
            if _reads_open_cards(t.guard) or any(e.kind == "fire" or _reads_open_cards(e.when) for e in t.effects)
            for source in t.source
        )

    @cached_property
    def initial_triggers(self) -> tuple[str, ...]:
        """The triggers with a transition leaving the initial state (not back to it), in the order of the transitions."""
        initials = {state.name for state in self.states.values() if state.initial}
        return tuple(dict.fromkeys(t.trigger for t in self.transitions if initials & set(t.source) and t.dest not in initials))

    @cached_property
    def creating_trigger(self) -> str | None:
        """The trigger that creates a card of this process: `creates`, else (a batch process) the one
        trigger with a transition from the initial state; None when there is none (an action process)."""
        if self.creates is not None or self.kind != "batch":
            return self.creates
        found = self.initial_triggers
        return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class ValueOutcome:
    """What one value of an option variable does."""

    value: Any
    outcome: str


@dataclass(frozen=True)
class Variable:
    """An option variable as the vendor documents it, plus the administrator's `value:` if set."""

    name: str
    script: str
    option: str
    description: str
    type: str
    items: str | None
    default: Any
    values: tuple[ValueOutcome, ...]
    outcome: str | None
    value: Any
    has_value: bool
    location: Location
    value_location: Location | None
    min: int | None = None  # the least an int, or each int of a list, may be
    max: int | None = None  # the most

    @property
    def allowed(self) -> tuple[Any, ...] | None:
        """The values an option may take, when the script enumerates them."""
        if self.type == "bool":
            return (True, False)
        return tuple(entry.value for entry in self.values) or None


@dataclass(frozen=True)
class OptionScript:
    """An option script (rules/<script>.yaml) and its variables."""

    script: str
    package: str
    description: str
    variables: dict[str, Variable]
    document: Document = field(repr=False, compare=False)


@dataclass(frozen=True)
class Workspace:
    """Every process and option script of a workspace, with all diagnostics found in them."""

    root: Path
    processes: dict[str, Process]
    scripts: dict[str, OptionScript]
    diagnostics: tuple[Diagnostic, ...]
    fingerprint: str
    #: the cron expression of each scheduled job (schedule.yaml), for the workers
    schedules: dict[str, str] = field(default_factory=dict)
    #: the roles users may hold and processes may require (roles.yaml, else the default roles)
    roles: dict[str, Role] = field(default_factory=dict)
    #: the systems the workspace calls (connectors.yaml, else the default bureau), by name
    connectors: dict[str, Connector] = field(default_factory=dict)
    #: what each email template reads of a person beyond a person's fields, found once at load (kept
    #: in the workspace cache, so that a run does not parse its templates again to check them)
    template_reads: dict[str, tuple[tuple[str, str, Location], ...]] = field(default_factory=dict)
    #: the business days timers with `working_days` count (calendar.yaml, else Monday to Friday)
    calendar: Calendar = field(default_factory=Calendar)

    @property
    def ok(self) -> bool:
        return not any(found.severity == "error" for found in self.diagnostics)

    @cached_property
    def timed(self) -> dict[str, dict[str, tuple[Timer, ...]]]:
        """By process, the timers of each state that has some (empty when no process declares a timer)."""
        return {name: process.timed for name, process in self.processes.items() if process.timed}

    def named(self, name: str) -> Process | None:
        """The process with symbolic name `name`, or known by it before (its `aliases`); None if none is."""
        return self.processes.get(name) or next((p for p in self.processes.values() if name in p.aliases), None)

    def process(self, name: str) -> Process:
        """The process `named` `name`, or a UsageError that suggests a close name."""
        found = self.named(name)
        if found is None:
            raise UsageError(f"unknown process '{name}'{did_you_mean(name, self.processes)}")
        return found

    def exclusive_group(self, process: Process) -> dict[str, str]:
        """The processes whose open cards a user's `open_cards` counts for `process`, each symbolic
        name with its name: every process of its exclusivity group, else the process alone."""
        if process.exclusive is None:
            return {process.symbolic_name: process.name}
        group = process.exclusive.group
        return {p.symbolic_name: p.name for p in self.processes.values() if p.exclusive and p.exclusive.group == group}

    def require_names(self, *, state: str | None = None, process: str | None = None) -> None:
        """A UsageError with a close name when `process`, or `state` (of it, or of any process), is unknown."""
        chosen = [self.process(process)] if process is not None else list(self.processes.values())
        states = {name for found in chosen for name in found.states}
        if state is not None and state not in states:
            raise UsageError(f"--state {state}: unknown state{did_you_mean(state, states)} (known: {', '.join(sorted(states))})")

    def role_names(self) -> list[str]:
        """The roles users may hold, or a UsageError when roles.yaml could not be read (validate says why)."""
        if not self.roles:
            raise UsageError(f"{self.root}/roles.yaml has errors, so no role is known; run `cardflow validate`")
        return list(self.roles)

    def require_valid(self) -> Workspace:
        """This workspace, or WorkspaceInvalid when it has errors (run `cardflow validate`)."""
        if not self.ok:
            errors = [found.as_json() for found in self.diagnostics if found.severity == "error"]
            raise WorkspaceInvalid(f"the workspace {self.root} has {len(errors)} error(s); run `cardflow validate`", errors)
        return self


def text_of(value: Any) -> str:
    """Descriptive text as a string, even when validation already reported it as missing or wrong."""
    return value if isinstance(value, str) else ""


def _reads_open_cards(rule: Source | None) -> bool:
    from engine.definitions.expressions import parse  # when a run asks: loading a workspace parses nothing here

    return rule is not None and ("user", "open_cards") in parse(rule.text).attributes
