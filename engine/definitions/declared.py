"""The vocabulary a workspace declares beside its processes: the roles users hold (roles.yaml) and
the systems it calls (connectors.yaml), as frozen dataclasses built from validated documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.diagnostics import Location


@dataclass(frozen=True)
class Role:
    """A role users may hold and processes may require of their actor (roles.yaml)."""

    name: str
    description: str
    sv: str | None = None  # the description in Swedish, for the console
    system: bool = False  # the role the system's own processes run as
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class Operation:
    """One thing a connector does; `sends` (root → fields) is what its call carries, None: the kind's own."""

    name: str
    description: str
    sends: Mapping[str, tuple[str, ...]] | None = None
    location: Location = field(default=Location(""), compare=False)


@dataclass(frozen=True)
class Connector:
    """A system the workspace calls (connectors.yaml), by the name its transitions use."""

    name: str
    kind: str
    description: str
    operations: Mapping[str, Operation]
    #: each setting the connector names with the environment variables it is read from, in order
    settings: Mapping[str, tuple[str, ...]]
    location: Location = field(default=Location(""), compare=False)
