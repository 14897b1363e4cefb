"""Source locations, diagnostics and the one table of diagnostic codes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CODES: dict[str, str] = {
    # load: the YAML itself
    "E001": "YAML syntax error: {detail}",
    "E002": "tag {tag} is not allowed (only plain YAML data is loaded)",
    "E003": "duplicate key '{key}' (first at line {first})",
    "E004": "nesting deeper than {limit} levels",
    "E005": "document expands to more than {limit} nodes (alias bomb?)",
    "E006": "file is {size} bytes; the limit is {limit}",
    "E007": "{detail}",
    "E008": "cannot read file: {detail}",
    # validate: the shape (cerberus)
    "E101": "unknown key '{key}'{hint}",
    "E102": "must be of type {expected}, not {actual}",
    "E103": "required key '{key}' is missing",
    "E104": "value {value!r} is not one of {allowed}",
    "E105": "must not be empty",
    "E106": "{detail}",
    # check: the meaning
    "E201": "file name does not match {what} '{name}'",
    "E202": "duplicate {what} '{name}' (also in {other})",
    "E203": "unknown state '{name}'{hint}",
    "E204": "{count} initial states; exactly one is needed",
    "E205": "state '{name}' is unreachable from the initial state '{initial}'",
    "E206": "state '{name}' has no way out and is neither final nor a handover",
    "E207": "documented outcome state '{name}' is never reached",
    "E208": "transitions {first} and {second} for trigger '{trigger}' from '{source}' can both fire{when}",
    "E209": "unknown process '{name}'{hint}",
    "E210": "trigger '{name}' has no transition in {process}",
    "E212": "unknown option script '{name}'{hint}",
    "E213": "state '{name}' is both final and a handover",
    "E214": "trigger '{name}' in process {process} is fired by no process",
    "E220": "creates: trigger '{name}' is not declared in this process's triggers{hint}",
    "E221": "creates: trigger '{name}' has no transition leaving the initial state '{initial}'",
    "E222": "no trigger leaves the initial state '{initial}', so no card can be created",
    "E223": "triggers {names} all leave the initial state '{initial}'; name the one that creates a card with `creates:`",
    # scenario steps over the workspace's processes and triggers
    "E230": "unknown step key '{key}'{hint}: a step's action is run, queue, orders, advance"
    " or a trigger a person fires ({triggers})",
    "E231": "trigger '{name}' is not declared by {process}{hint} (it declares: {known})",
    "E232": "{problem}",
    # the declared vocabulary: roles, scheduled jobs
    "E240": "unknown role '{name}'{hint} (known: {known})",
    "E241": "scheduled job '{name}' is neither a command nor a process the system runs{hint} (known: {known})",
    "E242": "role '{name}' is marked system, as '{first}' is already; the system runs as one role",
    # never-fire analysis (engine.definitions.never_fire): what no option combination and no user reaches
    "W206": "{label} never fires: {why}",
    "W207": "guard of {label} is never false where it is tried: `{guard}` holds under every value of {options}",
    "W208": "timer never fires: no value of {options} reaches its state '{state}'",
    # the store (validate --db): what the workspace reads that no user has
    "W240": "the {place} reads '{shown}', which no user in the store has{hint}",
    "E243": "'{name}' is an actor keyword (any: anyone; system: cardflow itself), not a name for a role",
    # external calls: declared (`invoke: CONNECTOR.OPERATION`), never implied by reading a value
    "E260": "guard reads '{name}', but {label} declares no call: add `invoke: {call}`"
    " (`cardflow upgrade-workspace [--workspace DIR]` adds it wherever it is missing)",
    "E261": "invoke '{name}' is not a call: write CONNECTOR.OPERATION, a connector of connectors.yaml and one of its operations",
    "E262": "transitions {first} and {second} for trigger '{trigger}' from '{source}' declare different calls"
    " ({one}, {other}); one firing makes one call",
    "E263": "{answer} answer of {call} on '{trigger}' from '{source}' leads nowhere: {why}{when}",
    "E264": "{label} enters '{state}' without a call, where {other} enters it on an accepted answer of {call}:"
    " declare `invoke: {call}`, or lead it to a state of its own",
    # timers on states (engine.definitions.timers)
    "E265": "{key}: {problem}",
    "E266": "timer: repeats every {every} and has no `max`: a repeating timer needs an end (add `max: N`)",
    "E267": "timer: fires '{name}', which no transition takes from '{state}'{hint} (taken from it: {known})",
    "E268": "timer: working_days counts whole days: {key} '{text}' is not a number of days (write P3D)",
    "E269": "calendar: {problem}",
    "E276": "timer: at: '{name}' is no date field of the card{hint} (its date fields: {known})",
    "E287": "timer: before: {problem}",
    "E288": "alias '{name}' is {what}: a name finds one process",
    "E277": "timer: needs exactly one of `after` (a duration in the state) and `at` (a date field of the card){found}",
    "E289": "timer: needs exactly one of `fire` (a trigger a transition takes from the state) and `effects`"
    " (what it does in the state){found}",
    # lifecycles shared by processes (engine.definitions.lifecycles)
    "E278": "lifecycle '{name}' is not in lifecycles/{hint} (known: {known})",
    "E279": "{key}: lifecycle '{name}' {what} for every process that names it; a process with a lifecycle"
    " adds only its own triggers and the transitions that create its cards",
    "E285": "lifecycle '{name}' includes itself ({path}); a lifecycle includes only others",
    "E286": "{key} is declared by lifecycle '{name}' too ({at}), which this one includes; declare it once",
    # exclusivity groups across processes
    "E250": "exclusive: {problem}; {shape}",
    "E251": "exclusive group {name!r} is not a name (letters, digits, _)",
    # effects (engine.effects): an entry's kind, and card fields (the `set` kind)
    "E270": "an effect needs exactly one kind key of {kinds}; found: {found}",
    "E271": "set: unknown card field '{name}'{hint} (declared here: {known})",
    "E272": "card field '{name}' is declared again, differently ({other} declares it as {type}); a field has one declaration",
    "E273": "card field '{name}' clashes with a field every card has ({known})",
    "E274": "card field '{name}' ({type}): {problem}",
    "E275": "card field '{name}': {problem}",
    # effects: whom an email goes to, and `fire` (a trigger on the holder's other cards)
    "E280": "unknown role '{name}'{hint} (known: {known})",
    "E281": "fire: trigger '{name}' is declared by no process that creates cards{hint}",
    "E282": "fire: trigger '{name}' has no transition in any process",
    "E283": "fire: '{trigger}' fires '{name}' and the fires loop ({path}): a card could be fired again",
    "E284": "fire: '{trigger}' starts a chain of fires {depth} deep ({path}); at most {limit}",
    "E290": "no process definitions in {folder} (a workspace needs at least one processes/*.yaml)",
    # connectors.yaml: the systems cardflow calls
    "E310": "unknown connector kind '{name}'{hint} (known: {known})",
    "E311": "a connector of kind {kind} has no operation '{name}'{hint} (known: {known})",
    "E312": "a connector of kind {kind} has no setting '{name}'{hint} (known: {known})",
    "E313": "connector '{name}' needs the setting '{setting}' and names no environment variable for it (a {kind} has no default)",
    "E314": "a card has no field '{name}' to send{hint} (known: {known})",
    "E315": "invoke '{call}' names no connector operation connectors.yaml declares{hint} (declared: {known})",
    "E316": "invoke '{call}': connector '{name}' is a {kind}, and cardflow makes this call through a connector of kind {kinds}",
    "E317": "invoke '{call}' cannot be made by a transition: {why}",
    # expressions
    "E301": "expression does not parse: {detail}",
    "E302": "option '{name}' is not declared in the scripts this process reads{hint}",
    "E303": "unknown name '{name}' (known here: {known})",
    "E304": "{construct} is not allowed in expressions",
    "E305": "card.{name} is compared with {value!r}, which it never is here{hint} (it is one of: {known})",
    # options
    "E401": "{name}: value {value!r} is not of type {type}",
    "E402": "{name}: value {value!r} is not one of {allowed}",
    "E403": "{name}: values must cover {missing}",
    "E404": "{name}: {detail}",
    "E405": "{name}: value {value!r} is not {range}",
    # email templates
    "E501": "email template '{name}' has no {part} part ({file})",
    "E502": "template does not parse: {detail}",
    "E503": "template uses '{name}', which emails to {to} do not provide (they provide: {known})",
    "E504": "template reads the private attribute '{attr}' (the sandbox refuses it)",
    "E505": "template reads '{name}', which is not provided (known: {known})",
    "E506": "template fails with a sample email to {to}: {detail}",
    # scenarios
    "E601": "unknown user '{name}' (not among the scenario's users)",
    "E602": "a step needs exactly one of {actions}; this one has {found}",
    "E603": "a run step needs exactly one of {keys}",
    "E604": "unknown option variable '{name}'{hint}",
    "E605": "unknown state '{name}': no process of the workspace has it{hint}",
    "E606": "unknown email '{name}': no effect of the workspace sends it{hint}",
    "E607": "unknown card field '{name}': no process of the workspace declares it{hint}",
    "E608": "no user of the scenario has the address '{name}'{hint} (emails go to users only)",
    # scheduled jobs
    "E701": "bad cron expression {cron!r}: {detail}",
}


@dataclass(frozen=True, order=True)
class Location:
    """A point in a source file; line and column count from 1."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Source:
    """An expression's text and where it stands."""

    text: str
    location: Location


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a source file, with a stable code."""

    location: Location
    code: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return one_line(f"{self.location}: {self.code} {self.message}")

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


def diagnostic(location: Location, code: str, **fields: Any) -> Diagnostic:
    """Build a diagnostic from the code table (a W code is a warning); unknown codes are a programmer error."""
    return Diagnostic(location, code, CODES[code].format(**fields), "warning" if code.startswith("W") else "error")


def one_line(text: str) -> str:
    """`text` with line breaks, tabs and other control characters escaped, so it prints as one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def sort_unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in file, line, column order, each reported once."""
    return sorted(set(diagnostics))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint when a close candidate exists, else ''; the case is weighed only
    when no candidate is close without it ('ISSUED' is close to 'issued')."""
    import difflib

    known = list(candidates)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close:
        folded = {candidate.casefold(): candidate for candidate in known}
        close = [folded[found] for found in difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)]
    return f" (did you mean '{close[0]}'?)" if close else ""
