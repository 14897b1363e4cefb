"""Stage 6, report: tables for people and plain data for --json (diagrams are in `graphs`)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from engine import effects

if TYPE_CHECKING:  # imported when used: `validate --json` and the like need neither the runtime nor the store
    from engine.batch.actions import ActionResult
    from engine.batch.over_cards import CardRun
    from engine.batch.results import BatchResult
    from engine.definitions.model import Process
    from engine.definitions.options import EffectiveOptions, OptionValue


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, upper: bool = True) -> str:
    """A plain-text table, columns padded to their widest cell; headers upper-cased unless `upper` is false
    (names such as option variables are shown as written)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = ["  ".join((h.upper() if upper else h).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def table_lines(headers: Sequence[str], rows: Iterable[Sequence[Any]], page: int = 1000) -> Iterator[str]:
    """`table` line by line as the rows come: the columns are as wide as in the first `page` rows
    (a longer cell later stretches its own line), so a listing of any length streams."""
    pending = iter(rows)
    cells = [[_cell(value) for value in row] for row in islice(pending, page)]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    yield "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    for row in itertools.chain(cells, ([_cell(value) for value in row] for row in pending)):
        yield "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return _CONTROL.sub(_escaped, str(value))


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    """A control character in a cell, shown as its escape (so stored CR/LF cannot break a table or fake a row)."""
    return match.group().encode("unicode_escape").decode("ascii")


def to_json(data: Any) -> str:
    """Stable JSON for scripts: sorted keys where data are mappings, two-space indent."""
    return json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False)


def json_array(items: Iterable[Any], page: int = 1000) -> Iterator[str]:
    """`to_json` of a list, in pieces of up to `page` items as they come (output that streams)."""
    pieces: list[str] = []
    opening = "[\n  "
    for item in items:
        pieces.append(opening + _indented(item))
        opening = ",\n  "
        if len(pieces) == page:
            yield "".join(pieces)
            pieces = []
    pieces.append("[]" if opening == "[\n  " else "\n]")
    yield "".join(pieces)


def _indented(item: Any) -> str:
    """One item of `to_json`'s array, two spaces in: a mapping's scalars encoded one by one (the
    indenting encoder is pure Python, about five times slower), anything else by `json.dumps`."""
    if not isinstance(item, dict) or not all(type(key) is str for key in item):
        return _dumps(item).replace("\n", "\n  ")
    if not item:
        return "{}"
    fields = ",\n    ".join(f"{_string(key)}: {_value(value)}" for key, value in item.items())
    return "{\n    " + fields + "\n  }"


def _value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if (kind is list or kind is dict) and not value:  # an email's empty history: not worth the indenting encoder
        return "[]" if kind is list else "{}"
    return _dumps(value).replace("\n", "\n    ")


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


_string: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def process_row(process: Process) -> dict[str, Any]:
    """The one-line summary of a process, as `cardflow processes` lists it."""
    return {
        "symbolic_name": process.symbolic_name,
        "kind": process.kind,
        "name": process.name,
        "package": process.package,
        "actor": process.actor,
        "outcome": list(process.outcome),
    }


def option_rows(options: EffectiveOptions) -> list[dict[str, Any]]:
    """Each effective option with its value and provenance, as `cardflow options` lists them."""
    return [
        {
            "variable": name,
            "script": option.variable.script,
            "option": option.variable.option,
            "type": option.variable.type,
            "value": option.value,
            "default": option.variable.default,
            "source": option.source,
        }
        for name, option in option_items(options)
    ]


def option_items(options: EffectiveOptions) -> list[tuple[str, OptionValue]]:
    return sorted(options.values.items(), key=lambda item: (item[1].variable.script, item[0]))


def process_detail(process: Process, options: EffectiveOptions, processes: Iterable[Process] = ()) -> dict[str, Any]:
    """Everything `cardflow show` tells about a process: metadata, triggers, options, states, transitions."""
    detail = {
        **process_row(process),
        "component": process.component,
        "start": process.start,
        "description": process.description,
        "acts_on": list(process.acts_on),
        "triggers": trigger_rows(process, processes),
        "prerequisites": [{"rule": p.rule.text, "message": p.message} for p in process.prerequisites],
        "options": option_rows(options.for_scripts(process.options)),
        "states": {
            name: {"initial": s.initial, "final": s.final, "handover": s.handover, "description": s.description}
            for name, s in process.states.items()
        },
        "transitions": [
            {
                "trigger": t.trigger,
                "source": list(t.source),
                "dest": t.dest,
                "guard": t.guard.text if t.guard else None,
                "effects": [effects.kind(e).describe(e) + (f" when {e.when.text}" if e.when else "") for e in t.effects],
                "at": str(t.location),
            }
            for t in process.transitions
        ],
    }
    return detail


def trigger_rows(process: Process, processes: Iterable[Process]) -> dict[str, dict[str, Any]]:
    """Every trigger of a process, those it declares and those its transitions take (an action
    process fires them), each with its description, its reason rule and the processes that fire it."""
    actions = [p for p in processes if p.kind == "action" and process.symbolic_name in p.acts_on]
    rows = {}
    for name in dict.fromkeys([*process.triggers, *(t.trigger for t in process.transitions)]):
        firing = [action for action in actions if name in action.triggers]
        declared = process.triggers.get(name) or next((action.triggers[name] for action in firing), None)
        rows[name] = {
            "description": declared.description if declared else "",
            "reason": declared.reason if declared else "none",
            "fired_by": [{"process": p.symbolic_name, "actor": p.actor} for p in firing or [process]],
        }
    return rows


def render_detail(detail: dict[str, Any]) -> str:
    """`cardflow show` for a reader."""
    lines = [
        f"{detail['symbolic_name']}: {detail['name']} ({detail['kind']}, run by {detail['actor']})",
        f"  package:   {detail['package']}",
        f"  component: {detail['component']}",
        f"  start:     {detail['start']}",
        f"  outcome:   {', '.join(detail['outcome'])}",
        f"  {detail['description']}",
    ]
    if detail["acts_on"]:
        lines.append(f"  acts on:   {', '.join(detail['acts_on'])}")
    lines.append("\nTriggers:")
    rows = [
        [name, ", ".join(f"{by['process']} ({by['actor']})" for by in t["fired_by"]), t["reason"], t["description"]]
        for name, t in detail["triggers"].items()
    ]
    lines.append(_indent(table(["trigger", "fired by", "reason", "description"], rows)))
    if detail["prerequisites"]:
        lines.append("\nPrerequisites:")
        lines += [f"  {p['rule']}\n      else: {p['message']}" for p in detail["prerequisites"]]
    if detail["options"]:
        lines.append("\nOptions:")
        lines.append(
            _indent(table(["variable", "value", "source"], [[o["variable"], o["value"], o["source"]] for o in detail["options"]]))
        )
    if detail["states"]:
        lines.append("\nStates:")
        rows = [[name, _state_kind(s), s["description"]] for name, s in detail["states"].items()]
        lines.append(_indent(table(["state", "kind", "description"], rows)))
        lines.append("\nTransitions:")
        rows = [
            [t["trigger"], "|".join(t["source"]), t["dest"], t["guard"] or "", "; ".join(t["effects"])]
            for t in detail["transitions"]
        ]
        lines.append(_indent(table(["trigger", "source", "dest", "guard", "effects"], rows)))
    return "\n".join(lines)


def _state_kind(state: dict[str, Any]) -> str:
    if state["initial"]:
        return "initial"
    if state["final"]:
        return "final"
    return "handover" if state["handover"] else ""


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def outbox_row(row: dict[str, Any]) -> dict[str, Any]:
    """An email as `cardflow outbox --json` gives it."""
    return {
        "id": row["id"],
        "template": row["template"],
        "to": row["recipient"],
        "subject": row.get("subject"),
        "status": row["status"],
        "card": row["card_id"],
        "batch": row["batch_id"],
        "message_id": row.get("message_id"),
        "attempts": row.get("attempts", 0),
        "error": row.get("error"),
        "next_attempt_at": row.get("next_attempt_at"),
        "history": json.loads(row["history"]) if row.get("history") else [],
    }


def render_batch(result: BatchResult) -> str:
    """`cardflow run` for a reader: the users (up to 100) and a summary line."""
    lines = []
    if result.results and result.total <= 100:
        rows = [[r.user, r.card, r.state, r.status, r.reason] for r in result.results]
        lines.append(table(["user", "card", "state", "status", "reason"], rows))
    created = {state: n for state, n in sorted(result.counts.items()) if state != "skipped"}
    summary = ", ".join(f"{state} {n}" for state, n in created.items()) or "none"
    verb = "would create" if result.dry_run else "created"
    batch = "dry run" if result.dry_run else f"batch {result.batch}"
    lines.append(
        f"{batch} ({result.process}): {verb} {sum(created.values())} card(s) ({summary}), "
        f"skipped {result.counts.get('skipped', 0)}" + (" [dry run: nothing written]" if result.dry_run else "")
    )
    lines += [result.nothing_selected] if result.nothing_selected else []
    lines += _table_left_out(result)
    return "\n".join(lines)


def _table_left_out(result: BatchResult) -> list[str]:
    """A line saying the table was left out, and how to see every result, when there are over 100."""
    if result.total <= 100:
        return []
    return [f"{result.total} results: the table shows at most 100 users; --json lists every one"]


def render_card_run(result: CardRun) -> str:
    """`cardflow run` over cards for a reader: the cards (up to 100) and a summary line."""
    lines = []
    if result.results and result.total <= 100:
        rows = [[r.card, r.user, r.source, r.dest, r.status, r.reason] for r in result.results]
        lines.append(table(["card", "user", "from", "to", "status", "reason"], rows))
    counts = result.counts
    batch = "dry run" if result.dry_run else f"batch {result.batch}"
    verb = "would do" if result.dry_run else "did"
    lines.append(
        f"{batch} ({result.process}, '{result.trigger}'): {verb} {counts['done']} card(s), refused {counts['refused']}"
        + (" [dry run: nothing written]" if result.dry_run else "")
    )
    lines += [result.nothing_selected] if result.nothing_selected else []
    if result.total > 100:
        lines.append(f"{result.total} results: the table shows at most 100 cards; --json lists every one")
    return "\n".join(lines)


def render_actions(results: Sequence[ActionResult]) -> str:
    """`cardflow approve/reject/.../queue run` for a reader."""
    if not results:
        return "nothing to do"
    rows = [[r.card, r.trigger, r.source, r.dest, r.status, r.message] for r in results]
    return table(["card", "trigger", "from", "to", "status", "message"], rows)


def render_sync(results: Sequence[ActionResult]) -> str:
    """`cardflow queue run` for a reader: the cards, then one line of totals (per state reached, and left waiting)."""
    from collections import Counter

    if not results:
        return render_actions(results)
    counts = Counter(r.dest if r.status == "done" and r.dest else r.status for r in results)
    return render_actions(results) + "\nqueue run: " + ", ".join(f"{key} {n}" for key, n in sorted(counts.items()))


def render_plan(result: BatchResult) -> str:
    """`cardflow plan` for a reader: per user what run would do, then the totals."""
    lines = []
    if result.results and result.total <= 100:
        rows = [
            [r.user, r.state, r.status, r.reason, ", ".join(f"{t} to {to}" for t, to in r.emails or []), _orders(r.orders),
             armed(r.timers)]
            for r in result.results
        ]  # fmt: skip
        lines.append(table(["user", "state", "status", "reason", "emails", "bureau", "timers"], rows))
    lines.append(plan_summary(result))
    lines += _table_left_out(result)
    return "\n".join(lines)


def plan_summary(result: BatchResult) -> str:
    states = ", ".join(f"{state} {n}" for state, n in sorted(result.counts.items()) if state != "skipped") or "no cards"
    emails = sum(len(r.emails or []) for r in result.results)
    orders = sum(len(r.orders or []) for r in result.results)
    timers = sum(len(r.timers or []) for r in result.results)
    return (
        f"plan for {result.process} (nothing written): {states}; skipped {result.counts.get('skipped', 0)}; "
        f"{emails} email(s); {orders} bureau order(s); {timers} timer(s) armed"
    ) + (f"\n{result.nothing_selected}" if result.nothing_selected else "")


def armed(timers: list[dict[str, Any]] | None) -> str:
    """The timers a plan's card would arm: the trigger each fires and when (the date of a whole day)."""
    return ", ".join(f"{timer['fire']} {timer['due'].removesuffix('T00:00:00Z')}" for timer in timers or [])


def _orders(orders: list[bool] | None) -> str:
    return ", ".join("ordered" if accepted else "refused" for accepted in orders or [])
