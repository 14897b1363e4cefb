"""Compilation: option guards decided once, one shared machine, a decision trace per firing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import ROOT

from engine.definitions.compile import _CACHE, CACHE_SIZE, KEYED_LIMIT, compile_process
from engine.definitions.options import effective_options, values_of
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import LazyAnswer, OrderAnswer
from engine.testing.matrix import options_read, representative_scope

ORDER = "CardsAddonExtProdBoProcOrderMultiple"


def compiled(**overrides: object):  # type: ignore[no-untyped-def]
    workspace = load_workspace(ROOT)
    return compile_process(workspace.processes[ORDER], effective_options(workspace.scripts, overrides), workspace.fingerprint)


def test_machine_is_cached_per_options() -> None:
    """The same options give the very same machine; other options give another."""
    assert compiled() is compiled()
    assert compiled(CardsAddonExtProdQueue=False) is not compiled()


def test_the_machines_kept_are_bounded_the_least_recently_used_dropped_first() -> None:
    """A process that lives on keeps at most CACHE_SIZE machines: compiling more drops the oldest, not
    the one just used again."""
    workspace = load_workspace(ROOT)
    process = workspace.processes[ORDER]

    def machine(number: int) -> Any:
        options = effective_options(workspace.scripts, {"CardsAddonExtProdProductionTypes": [f"layout{number}"]})
        return compile_process(process, options, f"{workspace.fingerprint}:bounded-test")

    first, second = machine(0), machine(1)
    for number in range(2, CACHE_SIZE + 10):
        machine(number)
        assert machine(0) is first  # used again each time: kept
    assert len(_CACHE) == CACHE_SIZE
    assert machine(1) is not second  # the least recently used: dropped, and made again


def test_options_only_guards_are_folded() -> None:
    """Default options: `start` has one unconditional transition, to processing."""
    machine = compiled().machine
    (only,) = machine.events["start"].transitions["registered"]
    assert only.dest == "processing" and only.conditions == []


def test_runtime_guard_stays_a_condition() -> None:
    """Queue off: `start` keeps the two bureau transitions, each with a condition."""
    transitions = compiled(CardsAddonExtProdQueue=False).machine.events["start"].transitions["registered"]
    assert [(t.dest, len(t.conditions)) for t in transitions] == [("ordered", 1), ("failed", 1)]


def test_firing_many_cards_binds_no_model() -> None:
    """Cards are never added to the machine: one reusable model per trigger serves all."""
    process = compiled(CardsAddonExtProdQueue=False)
    for accepted in [True, False] * 500:
        decision = process.fire("start", "registered", {"options": process.options.as_dict(), "bureau": {"accepted": accepted}})
        assert decision.dest == ("ordered" if accepted else "failed")
    assert process.machine.models == []


def test_decision_trace_names_options_and_sources() -> None:
    """The trace lists each candidate with its guard, location, option reads with provenance, and result."""
    process = compiled(CardsAddonExtProdQueue=False)
    decision = process.fire("start", "registered", {"options": process.options.as_dict(), "bureau": {"accepted": True}})
    assert [(e["dest"], e["result"], e["stage"]) for e in decision.trace] == [
        ("requested", False, "options"),
        ("processing", False, "options"),
        ("ordered", True, "runtime"),
        ("failed", False, "recorded"),
    ]
    reads = {r["name"]: r for r in decision.trace[2]["reads"]}
    assert reads["options.CardsAddonExtProdQueue"]["source"] == "--set"
    assert reads["options.CardsAddonExtProdBatchOrderApproval"]["source"] == "default"
    assert reads["bureau.accepted"] == {"name": "bureau.accepted", "value": True, "source": "bureau"}
    assert decision.trace[2]["at"].startswith(f"processes/{ORDER}.yaml:")
    assert [effect.email for effect in decision.effects] == ["card_ordered"]


def test_effect_condition_folded_off() -> None:
    """With the ordered email off, reaching `ordered` has no email effect."""
    process = compiled(CardsAddonExtProdQueue=False, CardsAddonExtProdOrderedEmail=False)
    decision = process.fire("start", "registered", {"options": process.options.as_dict(), "bureau": {"accepted": True}})
    assert decision.dest == "ordered" and decision.effects == []


def test_no_transition_from_a_state() -> None:
    """A trigger with no transition from the card's state decides nothing and changes nothing."""
    decision = compiled().fire("approve", "processing", {})
    assert decision.dest is None and decision.transition is None


def test_workspace_path_is_a_path() -> None:
    """The reference workspace in a checkout is the repository root."""
    assert isinstance(load_workspace(ROOT).root, Path)


class _Unasked(dict[str, object]):
    """A bureau root that fails the test if it is read: it stands for an order not yet placed."""

    pending = True

    def get(self, key: str, default: object = None) -> object:
        raise AssertionError("the bureau was asked while only recording a guard")


def test_recording_a_guard_never_asks_the_bureau() -> None:
    """Guards evaluated only for the record treat an unasked bureau as unknown."""
    process = compiled(CardsAddonExtProdQueue=False, CardsAddonExtProdBatchOrderApproval=True)
    decision = process.fire("start", "registered", {"options": process.options.as_dict(), "bureau": _Unasked()})
    assert decision.dest == "requested"
    assert [(e["dest"], e["result"]) for e in decision.trace] == [
        ("requested", True),
        ("processing", False),
        ("ordered", False),
        ("failed", False),
    ]


def _option_combinations(workspace: Any, process: Any) -> list[dict[str, Any]]:
    """Every combination of the options a process reads (each over the values `matrix` tries)."""
    variables = options_read(process, workspace.scripts)
    domains = {name: values_of(variable) for name, variable in variables.items()}
    domains = {name: values for name, values in domains.items() if values}
    return [dict(zip(domains, values, strict=True)) for values in itertools.product(*domains.values())]


def _every_batch_machine(tag: str) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    """Each batch process of the reference workspace, with each combination of its options, compiled
    (under a fingerprint of its own, `tag`, so that no other test's machines are reused)."""
    workspace = load_workspace(ROOT)
    for process in workspace.processes.values():
        if process.kind != "batch":
            continue
        for combination in _option_combinations(workspace, process):
            options = effective_options(workspace.scripts, combination).for_scripts(process.options)
            yield process, combination, compile_process(process, options, f"{workspace.fingerprint}:{tag}")


def _agrees(got: Any, expected: Any, where: tuple[Any, ...]) -> None:
    """`fire` decided as the machine did: the same destination, trace, effects and key."""
    assert (got.dest, got.trace, got.effects, got.key) == (expected.dest, expected.trace, expected.effects, expected.key), where


def _cards(compiled: Any, state: str) -> list[dict[str, Any]]:
    """Scopes of different cards in `state`: users and bureau answers that differ."""
    base = representative_scope(compiled)
    scopes = []
    for user_state, accepted in (("active", True), ("inactive", False), ("active", False)):
        user = {**base["user"], "state": user_state, "id": f"u-{user_state}-{accepted}"}
        bureau = {"accepted": accepted, "reason": None if accepted else "refused", "order_id": "o" if accepted else None}
        scopes.append({**base, "user": user, "card": {**base["card"], "state": state}, "bureau": bureau})
    return scopes


def test_a_step_the_options_decide_gives_the_machines_decision_to_every_card() -> None:
    """For every batch process, option combination and (trigger, state): `fire` agrees with firing
    the machine for each of several different cards, and a step the options decide entirely is
    fired through the machine once and then reused (the very same decision)."""
    checked = reused = 0
    for process, combination, compiled in _every_batch_machine("memo-test"):
        for trigger, state in compiled.candidates:
            decisions = []
            for scope in _cards(compiled, state):
                expected, got = compiled.fire_machine(trigger, state, scope), compiled.fire(trigger, state, scope)
                _agrees(got, expected, (process.symbolic_name, combination, trigger, state))
                decisions.append(got)
                checked += 1
            if compiled.options_decide(trigger, state):
                assert decisions[1] is decisions[2], (process.symbolic_name, combination, trigger, state)
                reused += 1
    assert checked > 100 and reused > 10


def _answers(compiled: Any, state: str) -> list[dict[str, Any]]:
    """Scopes of cards in `state` whose bureau answers repeat (accepted, refused, accepted, ...)."""
    scopes = []
    for number, accepted in enumerate((True, False, True, False, True, True)):
        card = _cards(compiled, state)[number % 3]
        bureau = {"accepted": accepted, "reason": None if accepted else "refused", "order_id": f"o{number}"}
        scopes.append({**card, "user": {**card["user"], "id": f"u{number}"}, "bureau": bureau})
    return scopes


def test_a_step_decided_by_one_runtime_value_reuses_the_machines_decision_per_value() -> None:
    """For every batch process, option combination and (trigger, state) whose runtime guards read
    one value (the bureau's answer): `fire` agrees with firing the machine for every card, and
    a card whose value was seen before gets the very same decision (the machine is not fired)."""
    checked = reused = 0
    for process, combination, compiled in _every_batch_machine("keyed-test"):
        for trigger, state in compiled.candidates:
            if compiled.decided_by(trigger, state) is None:
                continue  # no runtime value decides it: each card is fired, as the test above checks
            seen: dict[object, object] = {}
            for scope in _answers(compiled, state):
                expected, got = compiled.fire_machine(trigger, state, scope), compiled.fire(trigger, state, scope)
                _agrees(got, expected, (process.symbolic_name, combination, trigger, state))
                checked += 1
                value = scope["bureau"]["accepted"]
                if value in seen:
                    assert got is seen[value], (process.symbolic_name, combination, trigger, state)
                    reused += 1
                seen.setdefault(value, got)
    assert checked > 100 and reused > 10


def test_a_step_with_a_runtime_guard_asks_the_bureau_for_every_card() -> None:
    """Queue off: `start` reads the bureau, so each card asks the bureau (the answer decides
    the card; only the decision for an answer seen before is reused)."""
    process = compiled(CardsAddonExtProdQueue=False)
    asked: list[int] = []
    for card in range(5):
        answer = LazyAnswer(lambda card=card: asked.append(card) or OrderAnswer(accepted=card % 2 == 0, order_id=None))
        decision = process.fire("start", "registered", {"options": process.option_values, "bureau": answer})
        assert decision.dest == ("ordered" if card % 2 == 0 else "failed")
    assert asked == [0, 1, 2, 3, 4]
    assert not process.options_decide("start", "registered")


def test_the_same_values_from_another_source_are_traced_with_that_source() -> None:
    """Two commands in one process with equal values set in different places trace their own sources."""
    workspace = load_workspace(ROOT)
    process = workspace.processes["CardsAddonExtProdBoProcOrderMultiple"]
    for source in ("a.scenario.yaml:3", "b.scenario.yaml:9"):
        options = effective_options(workspace.scripts, {"CardsAddonExtProdQueue": False}, {"CardsAddonExtProdQueue": source})
        machine = compile_process(process, options, workspace.fingerprint)
        decision = machine.fire("start", "registered", {"options": machine.options.as_dict(), "bureau": {"accepted": True}})
        reads = {r["name"]: r for r in decision.trace[2]["reads"]}
        assert reads["options.CardsAddonExtProdQueue"]["source"] == source


def test_a_decision_kept_for_a_value_read_is_the_one_fired_for_that_value() -> None:
    """A batch's answered firings take the decision kept for the one value their answer's deciding
    attribute reads (`kept_for`): for every batch process, option combination and step decided by one
    value, what `fire` decided for that value, found again by the value alone (the second time from
    the values remembered), and None for a value never fired."""
    checked = 0
    for process, combination, made in _every_batch_machine("kept-test"):
        for trigger, state in made.candidates:
            root = made.decided_by(trigger, state)
            if root is None:
                continue
            for answer in _answers(made, state):
                scope = {**answer, root: answer["bureau"]}  # the answer under the connector that decides the step
                assert made.kept_for(trigger, state, {**scope[root], "accepted": "never fired"}) is None
                fired = made.fire(trigger, state, scope)
                for _ in range(2):
                    kept = made.kept_for(trigger, state, scope[root], lambda scope=scope: scope)
                    assert kept is not None, (process.symbolic_name, combination, trigger, state)
                    assert (kept.dest, kept.trace, kept.effects) == (fired.dest, fired.trace, fired.effects)
                checked += 1
    assert checked > 50


def test_the_values_a_kept_decision_is_found_by_are_bounded() -> None:
    """An answer whose deciding value differs for every card (a reference) is remembered no more
    than KEYED_LIMIT times, as the decisions themselves."""
    made = compiled(CardsAddonExtProdQueue=False)
    (trigger, state), *_ = (step for step in made.candidates if made.decided_by(*step) is not None)
    base = _answers(made, state)[0]
    for number in range(KEYED_LIMIT + 20):
        scope = {**base, "bureau": {**base["bureau"], "accepted": f"yes {number}"}}
        made.fire(trigger, state, scope)
        assert made.kept_for(trigger, state, scope["bureau"], lambda scope=scope: scope) is not None or number >= KEYED_LIMIT
    assert len(made.kept_reads) == len(made.keyed) == KEYED_LIMIT


def test_the_effects_of_a_kept_decision_are_chosen_once_for_each_text_of_the_card_fields() -> None:
    """An issue's PIN notice goes to the holders whose PIN goes by email (its `when` reads two card
    fields): a kept decision gives a card the effects chosen for the first card whose fields read the
    same, without weighing the `when` again; other fields, other effects."""
    workspace = load_workspace(ROOT)
    options = effective_options(workspace.scripts, {})
    made = compile_process(workspace.processes["CardsBoProcRequestMulitple"], options, f"{workspace.fingerprint}:fields-test")
    asked: list[str] = []

    def scope(channel: str) -> Any:
        card = {"id": 1, "state": "approved", "pin_channel": channel, "puk_channel": "nopuk"}
        return lambda: asked.append(channel) or {"card": card, "options": made.option_values, "printer": {"accepted": True}}

    made.fire("issue", "approved", scope("email")())  # the machine decides once, then the decision is kept
    chosen = [
        made.kept_for("issue", "approved", {"accepted": True}, scope(channel), f'{{"pin_channel": "{channel}"}}')
        for channel in ("email", "email", "print", "email")
    ]
    emails = [[effect.email for effect in decision.effects] for decision in chosen]
    assert emails == [["pin_notice"], ["pin_notice"], [], ["pin_notice"]]
    assert asked == ["email", "email", "print"]  # the machine's firing, then once for each text of the fields


def test_effects_whose_when_reads_more_than_the_card_fields_are_chosen_for_each_card() -> None:
    """A `when` that reads the card's state (or anything but its declared fields and the options) is
    weighed for every card: its candidate is not chosen by the fields alone."""
    from engine.definitions.candidates import compile_candidate
    from engine.definitions.model import Transition
    from engine.diagnostics import Location, Source
    from engine.effects.email import Email

    where = Location("lifecycle.yaml", 1, 1)

    def issue(when: str) -> Transition:
        effect = Email(Source(when, where), where, "pin_notice", "holder")
        return Transition(0, "issue", ("approved",), "issued", None, (effect,), where)

    declared = ("pin_channel", "puk_channel")
    assert compile_candidate(issue("card.pin_channel == 'email'"), {"options": {}}, declared).by_fields
    assert not compile_candidate(issue("card.state == 'approved'"), {"options": {}}, declared).by_fields
    assert not compile_candidate(issue("user.department == 'IT'"), {"options": {}}, declared).by_fields
