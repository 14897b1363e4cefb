"""The prerequisites of a batch, checked per user and remembered per values read.

Prerequisites are specialized under the batch's options and actor, so most read only a few
attributes of the user (`user.state`, `user.open_cards`). When every one reads the user only
through named attributes, the first that fails is a function of those attributes' values: it
is worked out once per distinct tuple of values and looked up for every other user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.definitions.closures import Reads
from engine.definitions.expressions import Compiled, reads_only_attributes
from engine.store.queries import Row

#: The most tuples of values remembered (beyond this, users are checked rule by rule).
REMEMBERED = 4096
_UNSEEN = object()


@dataclass
class Prerequisites:
    """The rules of a batch (each specialized, with its message) and what they decided so far."""

    rules: list[tuple[Compiled, str]]
    attributes: tuple[str, ...] | None = None
    decided: dict[tuple[Any, ...], str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        read = {pair for rule, _ in self.rules for pair in rule.attributes}
        only_user = all(rule.roots <= {"user"} and reads_only_attributes(rule.source, "user") for rule, _ in self.rules)
        self.attributes = tuple(sorted(attr for _, attr in read)) if only_user else None

    def first_failed(self, user: Row, scope: Row, reads: Reads) -> str | None:
        """The message of the first rule `user` fails (None when all hold); `scope` holds the other roots."""
        if self.attributes is None:
            return self._evaluated(user, scope, reads)
        if len(self.attributes) == 1:  # the common case (`user.state`): no tuples of one value
            value = user.get(self.attributes[0])
            key: tuple[Any, ...] = (value, type(value))
        else:
            values = tuple(map(user.get, self.attributes))
            key = (values, tuple(map(type, values)))  # 1 and True are equal keys, not equal values to a rule
        try:
            found = self.decided.get(key, _UNSEEN)
        except TypeError:  # a value that cannot be a key (a list): checked rule by rule
            return self._evaluated(user, scope, reads)
        if found is _UNSEEN:
            found = self._evaluated(user, scope, reads)
            if len(self.decided) < REMEMBERED:
                self.decided[key] = found
        return found  # type: ignore[return-value]

    def _evaluated(self, user: Row, scope: Row, reads: Reads) -> str | None:
        scope["user"] = user
        for rule, message in self.rules:
            if rule.closure(scope, reads) is not True:  # specialized: the closure gives the truth itself
                return message
        return None
