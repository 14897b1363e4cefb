"""The kinds of connector cardflow can talk to: their operations and settings, and the environment
variables a connector's setting is read from (without the connectors.yaml loader: the callers a
run makes need these alone)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.definitions.declared import Connector


@dataclass(frozen=True)
class Kind:
    """A system cardflow can talk to: its operations (None: the site names them) and its settings,
    each with the environment variables it is read from unless the connector names others."""

    description: str
    operations: frozenset[str] | None
    settings: Mapping[str, tuple[str, ...]]
    required: frozenset[str] = frozenset()


_BUREAU_OPERATIONS = frozenset({"order", "status"})
KINDS: dict[str, Kind] = {
    "go_cards": Kind(
        "the Nexus GO Cards HTTP API (OAuth2 client credentials, an Idempotency-Key on each order)",
        _BUREAU_OPERATIONS,
        {
            "url": ("CARDFLOW_BUREAU_URL", "IDM_CAAS_HOSTNAME"),
            "client_id": ("CARDFLOW_BUREAU_CLIENT_ID", "IDM_CAAS_CLIENT_ID"),
            "client_secret": ("CARDFLOW_BUREAU_CLIENT_SECRET", "IDM_CAAS_CLIENT_SECRET"),
            "org_id": ("CARDFLOW_BUREAU_ORG_ID", "IDM_CAAS_ORGANISATION_ID"),
            "timeout": ("CARDFLOW_BUREAU_TIMEOUT",),
        },
        frozenset({"url", "client_id", "client_secret", "org_id"}),
    ),
    "folder": Kind(
        "a folder of JSON files, one a call, its status written back (a drop folder, a printer's print jobs)",
        None,
        {"folder": ("CARDFLOW_ORDERS",)},
    ),
    "webhook": Kind(
        "a JSON POST to a URL, with an Idempotency-Key and, given a secret, an HMAC signature",
        None,
        {"url": (), "secret": (), "timeout": ()},
        frozenset({"url"}),
    ),
    "simulated": Kind("accepts every call and writes nothing (plans, dry runs, scenarios)", None, {}),
}
#: The kinds a card can be ordered through (`bureau.order`); a transition calls any connector but a go_cards one.
ORDERING_KINDS = ("go_cards", "folder", "simulated")


def environment(connector: Connector, setting: str) -> tuple[str, ...]:
    """The variables `setting` of `connector` is read from: the connector's own, else its kind's defaults."""
    return connector.settings.get(setting) or KINDS[connector.kind].settings.get(setting, ())
