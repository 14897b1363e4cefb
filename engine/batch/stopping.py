"""When a run stops before its end: the bureau stopped answering, or an email could not be rendered.
Either way what was done is kept, nothing is half-written, and the message says how to finish."""

from __future__ import annotations

from sqlalchemy import Engine

from engine.batch.effects import BUREAU_DOWN_AFTER
from engine.errors import Refused
from engine.store import batches


def bureau_down(process: str, batch_id: str, reason: str | None) -> str:
    """Why a run stopped ordering after BUREAU_DOWN_AFTER unanswered orders, and how to finish it (the
    command line, which knows how the run was asked for, adds the exact command)."""
    return (
        f"the card bureau did not answer {BUREAU_DOWN_AFTER} orders in a row ({reason}); the run of {process} "
        f"stopped ordering and the rest of the users wait: run batch {batch_id} again (--batch-id {batch_id}, "
        "the same selection, options and connector) when the bureau answers"
    )


class StoppedByAnEmail(Refused):
    """A batch stopped by an email that cannot be rendered; `batch_id` names it when it was kept (to resume)."""

    def __init__(self, message: str, batch_id: str | None) -> None:
        super().__init__(message)
        self.batch_id = batch_id


def stopped_by_an_email(engine: Engine, batch_id: str, made: int, resumed: bool, plan: bool, problem: str) -> StoppedByAnEmail:
    """An email of a chunk could not be rendered, so that chunk wrote nothing. A new batch that made no
    card is removed (none is left `running` with 0 cards); one that made some is left `incomplete`."""
    if not plan:
        with engine.begin() as connection:
            if made == 0 and not resumed:
                batches.drop_batch(connection, batch_id)
            else:
                batches.set_status(connection, batch_id, "incomplete")
    after = (
        f"; {made} card(s) made before it are kept: once the data it fails on is fixed, run --batch-id {batch_id} "
        "again (a fixed template changes the definitions, so the rest is then a new batch)"
        if made
        else ""
    )
    kept = None if plan or not (made or resumed) else batch_id
    return StoppedByAnEmail(f"batch {batch_id} stopped, the chunk in work was not written: {problem}{after}", kept)
