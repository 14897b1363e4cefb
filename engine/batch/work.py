"""The rows of one unit of work (a card's firing, a chunk's), gathered as triggers are fired and
written together by `flush`, so that a state change and its effects commit together or not at all.
A firing that is refused part-way is taken back out of a shared unit of work (`mark`, `undo`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple, Protocol

from sqlalchemy import Connection

from engine import effects
from engine.batch import arming
from engine.definitions.model import Workspace
from engine.definitions.options import EffectiveOptions
from engine.effects.base import FireContext as Firing
from engine.store import calls, queries, tally
from engine.store.queries import Row

#: The columns of an audit row gathered as a tuple (`Work.audit`).
TRANSITION_COLUMNS = (
    "card_id",
    "process",
    "trigger",
    "source",
    "dest",
    "actor",
    "at",
    "batch_id",
    "fingerprint",
    "decision_id",
    "reason",
    "fields",
)


class FireContext(Firing, Protocol):
    """What writing a unit of work needs of the context it was fired in (engine.batch.effects.FireContext)."""

    options: EffectiveOptions | None
    workspace: Workspace | None

    @property
    def timed(self) -> arming.Timed: ...


@dataclass
class Work:
    """The rows of one unit of work, written together by `flush`."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    changes: list[Row] = field(default_factory=list)
    approvals: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    decision_ids: set[str] = field(default_factory=set)
    last_trace: Row | None = None
    #: Rows made as tuples, by (table, columns): the hot path of a batch builds no dict per row.
    tuples: dict[tuple[str, tuple[str, ...]], list[tuple[object, ...]]] = field(default_factory=dict)
    #: The cards a `fire` effect moved in this unit of work, as it left them (a card the caller read
    #: before is fired on in that state, not in the one it read)
    fired: dict[int, Row] = field(default_factory=dict)
    #: The tuples of `tables` whose rows may be stored already, with the unique column that says so (`gathered`)
    skipping: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    #: The calls whose answers routed this unit of work's moves (engine.batch.calls), marked answered with them
    answered_calls: list[calls.Answer] = field(default_factory=list)

    def flush(self, connection: Connection, context: FireContext) -> set[int]:
        """Write the unit of work: first the state changes, each a compare-and-set, then the rows.
        A card another command moved meanwhile keeps its state, and its audit rows, orders and
        emails are not written; return those cards' ids."""
        lost = queries.set_card_states(connection, self.changes)
        rows = self.rows
        if lost:
            rows = defaultdict(list, {name: [r for r in kept if r.get("card_id") not in lost] for name, kept in rows.items()})
        queries.write_rows(connection, rows)
        tally.transitions(connection, map(itemgetter("process", "trigger"), rows.get("transitions", ())))
        calls.answered(connection, [answer for answer in self.answered_calls if answer.card not in lost])
        for (table, columns), tuples in self.tuples.items():  # new cards whose start was settled, cards a reminder left
            if lost and "card_id" in columns:  # not the rows of the cards another command moved
                at = columns.index("card_id")
                tuples = [row for row in tuples if row[at] not in lost]
            queries.insert_tuples(connection, table, columns, tuples, skip_existing=self.skipping.get((table, columns)))
            if table == "transitions":
                tally.transitions(connection, map(itemgetter(columns.index("process"), columns.index("trigger")), tuples))
        if context.timed:  # the timers of the states cards leave and enter (engine.batch.arming), once the new cards are written
            options = context.options.as_dict() if context.options is not None else context.compiled.option_values
            arming.arm_work(connection, context.timed, context.workspace, self, lost, context.at, options)
        for kind in effects.KINDS.values():
            if kind.flush is not None:
                kind.flush(connection, context, self, lost)
        self.rows, self.changes, self.approvals, self.decision_ids = defaultdict(list), [], defaultdict(list), set()
        self.tuples, self.fired, self.answered_calls, self.skipping = {}, {}, [], {}
        return lost

    def audit(self) -> list[tuple[object, ...]]:
        """The audit rows gathered as tuples of TRANSITION_COLUMNS (written with the others by `flush`)."""
        return self.tuples.setdefault(("transitions", TRANSITION_COLUMNS), [])

    def gathered(self, table: str, columns: tuple[str, ...], *, skip_existing: str | None = None) -> list[tuple[object, ...]]:
        """The rows of `table` gathered as tuples of `columns` (written with the others by `flush`);
        `skip_existing`: a unique column whose value may be stored already (that row stays as stored)."""
        if skip_existing is not None:
            self.skipping[(table, columns)] = skip_existing
        return self.tuples.setdefault((table, columns), [])

    def mark(self) -> Mark:
        """Where the unit of work stands now, to `undo` back to."""
        return Mark(
            {table: len(rows) for table, rows in self.rows.items()},
            len(self.changes),
            {member: len(entries) for member, entries in self.approvals.items()},
            self.last_trace,
            {key: len(values) for key, values in self.tuples.items()},
            dict(self.fired) if self.fired else None,
            len(self.answered_calls),
        )

    def undo(self, mark: Mark) -> None:
        """Take out everything gathered since `mark` (a firing refused part-way, or waiting for a call)."""
        for table, rows in self.rows.items():
            if table == "decisions":  # a trace is recorded once a unit of work: its id goes with its row
                self.decision_ids.difference_update(row["id"] for row in rows[mark.rows.get(table, 0) :])
            del rows[mark.rows.get(table, 0) :]
        del self.changes[mark.changes :]
        for member, entries in self.approvals.items():
            del entries[mark.approvals.get(member, 0) :]
        self.last_trace = mark.last_trace
        for key, values in self.tuples.items():
            del values[mark.tuples.get(key, 0) :]
        self.fired = mark.fired or {}
        del self.answered_calls[mark.answered_calls :]


class Mark(NamedTuple):
    """How far a unit of work had gathered, list by list (`Work.mark`; a tuple: one is taken a card)."""

    rows: dict[str, int]
    changes: int
    approvals: dict[str, int]
    last_trace: Row | None
    tuples: dict[tuple[str, tuple[str, ...]], int]
    fired: dict[int, Row] | None
    answered_calls: int
