"""The external calls a transition may declare (`invoke: CONNECTOR.OPERATION`), and what their
answers give guards. Any operation of a connector the workspace declares (`connectors.yaml`) may be
called; a guard reads the answer under the connector's name (`bureau.accepted`, `hr.reference`),
and only on a transition that declares the call. The card bureau's `order` is the one call with
more to read: the order id the bureau gave (its status is asked by the order-status sync)."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The connector cards are ordered through: its `order` places the card's order at the bureau.
BUREAU = "bureau"
#: The bureau's operation that orders a card (`invoke: bureau.order`).
ORDER = "order"
#: The field of every answer that says whether the call was accepted (the outcome that routes the card).
ACCEPTED = "accepted"
#: The field of an answer that gives the reason of a refusal.
REASON = "reason"
#: What a guard reads of any call's answer: accepted or not, the outcome's name (`accepted`,
#: `refused`), the other side's reference for what it took, and its reason for a refusal.
ANSWER_FIELDS = frozenset({ACCEPTED, "outcome", "reference", REASON})
#: What a guard reads of the bureau's answer to an order: the same, and the order id it gave.
ORDER_FIELDS = ANSWER_FIELDS | {"order_id"}
#: The shape of a call's name.
CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")


def well_formed(call: str) -> bool:
    """Whether `call` is CONNECTOR.OPERATION, each a name."""
    return CALL.fullmatch(call) is not None


def connector_of(call: str) -> str:
    """The connector a call names (`bureau` of `bureau.order`): the root its answer is read under."""
    return call.partition(".")[0]


def is_order(call: str | None) -> bool:
    """Whether `call` is the card's order at the bureau (`bureau.order`)."""
    return call == f"{BUREAU}.{ORDER}"


def answer_fields(connector: str) -> frozenset[str]:
    """The fields a guard may read of the answer of a call to `connector`."""
    return ORDER_FIELDS if connector == BUREAU else ANSWER_FIELDS


def call_roots(invoked: Iterable[str]) -> frozenset[str]:
    """The roots guards may read call answers under: the bureau, and each connector a transition invokes."""
    return frozenset({BUREAU, *(connector_of(call) for call in invoked if well_formed(call))})


def sample_answer(call: str, accepted: bool) -> dict[str, object]:
    """An answer of `call`, accepted or refused, as guards read it (for checks that weigh both)."""
    answer: dict[str, object] = dict.fromkeys(answer_fields(connector_of(call)))
    if accepted:  # an accepted call gives its fields (an order id, a reference) and no reason
        answer.update({name: "sample" for name in answer if name != REASON})
    else:  # a refused one gives its reason alone
        answer[REASON] = "sample"
    answer[ACCEPTED] = accepted
    answer["outcome"] = "accepted" if accepted else "refused"
    return answer
