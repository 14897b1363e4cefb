"""The external calls a transition may declare (`invoke: CONNECTOR.OPERATION`), and what their
answers give guards: the one table of known connectors and operations, until the workspace
declares its own (`connectors.yaml`). A guard reads a call's answer under the connector's name
(`bureau.accepted`), and only on a transition that declares the call."""

from __future__ import annotations

#: The card bureau, the one connector today (its connectors proper are chosen by `--connector`).
BUREAU = "bureau"
#: The bureau's operation that orders a card (`invoke: bureau.order`).
ORDER = "order"
#: Per connector, per operation: the fields of its answer a guard may read.
KNOWN_CALLS: dict[str, dict[str, frozenset[str]]] = {
    BUREAU: {ORDER: frozenset({"accepted", "order_id", "reason"})},
}
#: The field of every answer that says whether the call was accepted (the outcome that routes the card).
ACCEPTED = "accepted"
#: The field of an answer that gives the reason of a refusal.
REASON = "reason"


def call_names() -> list[str]:
    """Every known call as `CONNECTOR.OPERATION`."""
    return [f"{connector}.{operation}" for connector, operations in KNOWN_CALLS.items() for operation in operations]


def connector_of(call: str) -> str:
    """The connector a call names (`bureau` of `bureau.order`): the root its answer is read under."""
    return call.partition(".")[0]


def sample_answer(call: str, accepted: bool) -> dict[str, object]:
    """An answer of `call`, accepted or refused, as guards read it (for checks that weigh both)."""
    fields = KNOWN_CALLS[connector_of(call)][call.partition(".")[2]]
    answer: dict[str, object] = dict.fromkeys(fields)
    if accepted:  # an accepted call gives its fields (an order id, ...) and no reason
        answer.update({name: "sample" for name in fields if name != REASON})
    elif REASON in fields:  # a refused one gives its reason alone
        answer[REASON] = "sample"
    answer[ACCEPTED] = accepted
    return answer
