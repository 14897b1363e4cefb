"""The systems cardflow calls (`connectors.yaml`): each connector's kind, its operations, the fields
an operation sends, and the environment variables its settings are read from.

A kind is what cardflow knows how to talk to: the Nexus GO Cards HTTP API, a folder of JSON files
(the bureau's drop folder, or a local printer's folder of print jobs), a webhook, or the simulated
bureau of plans and scenarios. A connector is a site's use of a kind under a name of its own; a
transition calls one of its operations with `invoke: NAME.OPERATION`, and its guards read the
answer under that name. Settings are never written in the file: each names the environment
variables it is read from, in order (the vendor's IDM_CAAS_* among them by default). A workspace
without the file has one connector, `bureau`, of the kind `--connector` chooses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from engine.definitions.calls import BUREAU, ORDER, is_order, well_formed
from engine.definitions.connector_kinds import KINDS, ORDERING_KINDS, environment
from engine.definitions.declared import Connector, Operation
from engine.definitions.document import Document
from engine.definitions.files import CONNECTORS
from engine.definitions.load import load_file
from engine.definitions.model import Process
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean
from engine.records import CARD

#: What an operation may send: fields of the card, and of its holder (any attribute a user has).
SENT_ROOTS = ("card", "holder")
CARD_FIELDS = frozenset(found.name for found in CARD.fields if found.name not in CARD.internal)


#: A workspace without connectors.yaml: the card bureau, of the kind `--connector` chooses at run time.
DEFAULT_CONNECTORS: dict[str, Connector] = {
    "bureau": Connector(
        "bureau",
        "folder",
        "The card bureau that produces the cards.",
        {
            "order": Operation("order", "Order a card for its holder."),
            "status": Operation("status", "Ask what became of an order."),
        },
        {},
    )
}


def read_connectors(root: Path) -> tuple[dict[str, Connector], list[Diagnostic]]:
    """The connectors of the workspace at `root` and the diagnostics of its connectors.yaml; the
    default connector without the file, none when it cannot be built."""
    path = root / CONNECTORS
    if not path.is_file():
        return dict(DEFAULT_CONNECTORS), []
    document, found = load_file(path, CONNECTORS)
    if document is None:
        return {}, found
    shape, buildable = validate(document, "connectors")
    if not buildable or found:
        return {}, found + shape
    connectors = build_connectors(document)
    return connectors, found + shape + list(check_connectors(document, connectors))


def build_connectors(document: Document) -> dict[str, Connector]:
    """The connectors of a connectors document that passed validation."""
    built = {}
    for name, spec in document.data["connectors"].items():
        where = ("connectors", name)
        operations = {
            operation: Operation(
                operation,
                entry.get("description", ""),
                {root: tuple(fields) for root, fields in entry["sends"].items()} if "sends" in entry else None,
                document.key_at((*where, "operations", operation)),
            )
            for operation, entry in spec["operations"].items()
        }
        settings = {
            setting: tuple([names] if isinstance(names, str) else names) for setting, names in spec.get("settings", {}).items()
        }
        built[name] = Connector(name, spec["kind"], spec["description"], operations, settings, document.key_at(where))
    return built


def check_connectors(document: Document, connectors: Mapping[str, Connector]) -> Iterator[Diagnostic]:
    """What the shape cannot say: a known kind, operations and settings the kind has, a card field
    that exists, and a setting the kind needs that has no variable to come from."""
    for name, connector in connectors.items():
        where = ("connectors", name)
        kind = KINDS.get(connector.kind)
        if kind is None:
            yield diagnostic(
                document.at((*where, "kind")),
                "E310",
                name=connector.kind,
                hint=did_you_mean(connector.kind, KINDS),
                known=", ".join(KINDS),
            )
            continue
        for operation in connector.operations.values():
            if kind.operations is not None and operation.name not in kind.operations:
                known = sorted(kind.operations)
                yield diagnostic(
                    operation.location,
                    "E311",
                    name=operation.name,
                    kind=connector.kind,
                    hint=did_you_mean(operation.name, known),
                    known=", ".join(known),
                )
            yield from _sent_fields(document, (*where, "operations", operation.name), operation)
        for setting in connector.settings:
            if setting not in kind.settings:
                known = sorted(kind.settings)
                yield diagnostic(
                    document.key_at((*where, "settings", setting)),
                    "E312",
                    name=setting,
                    kind=connector.kind,
                    hint=did_you_mean(setting, known),
                    known=", ".join(known) or "none",
                )
        for setting in sorted(kind.required - {s for s in kind.settings if environment(connector, s)}):
            yield diagnostic(connector.location, "E313", name=name, setting=setting, kind=connector.kind)


def _sent_fields(document: Document, where: tuple[str, ...], operation: Operation) -> Iterator[Diagnostic]:
    """A card field an operation sends must be one a card has (the holder's attributes are the store's)."""
    known = sorted(CARD_FIELDS)
    for index, field_name in enumerate((operation.sends or {}).get("card", ())):
        if field_name not in CARD_FIELDS:
            yield diagnostic(
                document.at((*where, "sends", "card", index)),
                "E314",
                name=field_name,
                hint=did_you_mean(field_name, known),
                known=", ".join(known),
            )


def check_invoked(processes: Iterable[Process], connectors: Mapping[str, Connector]) -> Iterator[Diagnostic]:
    """A transition's `invoke: NAME.OPERATION` names a connector the workspace declares and one of its
    operations (E315), which a transition can call (E316, E317). Nothing is said when connectors.yaml
    could not be built (its own diagnostics say why), nor of a malformed call (E261 says that)."""
    if not connectors:
        return
    known = sorted(f"{name}.{operation}" for name, connector in connectors.items() for operation in connector.operations)
    for process in processes:
        for transition in process.transitions:
            if transition.invoke is None or not well_formed(transition.invoke.text):
                continue
            call, where = transition.invoke.text, transition.invoke.location
            name, _, operation = call.partition(".")
            if operation not in (connectors[name].operations if name in connectors else {}):
                yield diagnostic(where, "E315", call=call, hint=did_you_mean(call, known), known=", ".join(known))
                continue
            kind = connectors[name].kind
            if is_order(call) and kind not in ORDERING_KINDS:  # cards are ordered through a bureau's kind
                yield diagnostic(where, "E316", call=call, name=name, kind=kind, kinds=", ".join(ORDERING_KINDS))
            elif not is_order(call) and kind in KINDS:
                why = _not_callable(connectors[name], operation)
                if why:
                    yield diagnostic(where, "E317", call=call, why=why)


def _not_callable(connector: Connector, operation: str) -> str | None:
    """Why a transition cannot call `operation` of `connector`, if it cannot."""
    kind = connector.kind
    if kind == "go_cards":
        return f"cardflow orders through the GO Cards API as the connector '{BUREAU}' only (`invoke: {BUREAU}.{ORDER}`)"
    if operation == "status" and connector.name == BUREAU:
        return "the bureau's status is asked by the order-status sync (`cardflow orders sync`), not a transition"
    if kind == "folder" and "folder" not in connector.settings:  # the bureau's drop folder is not theirs
        return f"connector '{connector.name}' names no folder to write to: add `settings: {{folder: VARIABLE}}`"
    return None
