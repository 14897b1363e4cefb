"""A card's order at the bureau: its idempotency key, what it sends and how its answer is kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from engine.definitions.model import Workspace
from engine.outbound.bureau import OrderAnswer, OrderRequest
from engine.store.queries import Row


class Traced(Protocol):
    """A unit of work (engine.batch.effects.Work), as far as these read it: the trace of the trigger fired last."""

    last_trace: Row | None


#: The holder's attributes a call never sends (the store's own bookkeeping).
UNSENT = ("roles", "open_cards")


def order_key(card: Row, earlier_orders: int) -> str:
    """The idempotency key of a card's order: stable across crashes and time-outs (no answer, no order
    recorded), new for each new order (after a refusal, or after a production failure). One key per
    card whatever its ids: the batch id's `%` and `.` are encoded, so the first `.` ends the batch id
    and the last one begins the count."""
    return f"{_batch_part(card['batch_id'])}.{card['user_id']}.{earlier_orders + 1}"


def first_order_keys(batch_id: str) -> Callable[[str], str]:
    """`order_key` of the first order of each card of batch `batch_id`, by its holder (the batch's part encoded once)."""
    batch = _batch_part(batch_id)
    return lambda holder: f"{batch}.{holder}.1"


def _batch_part(batch_id: object) -> str:
    return str(batch_id).replace("%", "%25").replace(".", "%2E")


def order_request(card: Row, holder: Row, earlier_orders: int, sent: tuple[str, ...] | None = None) -> OrderRequest:
    """The order of `card`: the holder's attributes, or those the connector's operation `sends` (as the
    vendor maps CardsMapUserToCard)."""
    return OrderRequest(
        key=order_key(card, earlier_orders),
        card=card["id"],
        process=card["process"],
        batch=card["batch_id"],
        production_type=card["production_type"],
        holder=holder_data(holder, sent),
    )


def holder_data(holder: Row, sent: tuple[str, ...] | None) -> Row:
    """What an order sends of its holder: their attributes, or those the operation `sends` (None: all)."""
    return {k: v for k, v in holder.items() if k not in UNSENT} if sent is None else {k: holder.get(k) for k in sent}


def holder_sent(workspace: Workspace | None, call: str | None) -> tuple[str, ...] | None:
    """The holder's attributes the declared call sends (connectors.yaml `sends: {holder: [...]}`); None: all."""
    if workspace is None or not call:
        return None
    name, _, operation = call.partition(".")
    connector = workspace.connectors.get(name)
    declared = connector.operations.get(operation) if connector is not None else None
    return declared.sends.get("holder") if declared is not None and declared.sends else None


def answer_view(answer: OrderAnswer, connector: str) -> Row:
    """The bureau's answer as the decision trace keeps it (the order id is in the orders table)."""
    return {"connector": connector, "accepted": answer.accepted, "message": answer.message}


def bureau_refusal(work: Traced) -> str | None:
    """The card bureau's reason when it refused the order of the trigger fired last, else None."""
    bureau = (work.last_trace or {}).get("bureau")
    if not bureau or bureau.get("accepted"):
        return None
    return f"the card bureau refused the order: {bureau.get('message') or 'no reason given'}"


def bureau_accepted(work: Traced) -> bool | None:
    """Whether the card bureau accepted the order of the trigger fired last; None when it placed none."""
    bureau = (work.last_trace or {}).get("bureau")
    return None if not bureau else bool(bureau.get("accepted"))


class Gathering(Protocol):
    """A unit of work (engine.batch.effects.Work), as far as `unanswered` adds to it: its rows by table."""

    rows: Any


def unanswered(work: Gathering, card: Row, connector: str, message: str, at: str, earlier_orders: int = 0) -> None:
    """Record an order attempt the bureau did not answer (it is written with the unit of work)."""
    attempt = {"card_id": card["id"], "idempotency_key": order_key(card, earlier_orders), "connector": connector, "at": at}
    work.rows["bureau_attempts"].append({**attempt, "error": message})
