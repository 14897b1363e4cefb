"""The log-in throttle: how long an attempt is answered after, and how many may be under way at once.

Failures in a row are counted per account name, whether or not the account exists or has a password
(so the wait tells nothing about who exists), and per client address; a success resets both. An
account's attempt waits as the store's count says (`accounts.failure_delay`: 1, 2, 4 … up to 30 s after
three failures), a client's after `CLIENT_FREE` failures (an office may share one address). At most
`PER_ACCOUNT` attempts per name and `PER_CLIENT` per client are under way at once; one more is
refused at once. The counts live in the console's memory, at most `KEPT` names and clients.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from engine.store.accounts import FREE_FAILURES, failure_delay

CLIENT_FREE = 10
PER_ACCOUNT = 1
PER_CLIENT = 4
KEPT = 10_000


class TooManyAttempts(Exception):
    """The client or the account already has as many log-in attempts under way as it may."""


@dataclass
class Throttle:
    """Failures in a row and attempts under way, per account name and per client address."""

    failures: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)
    busy: Counter[tuple[str, str]] = field(default_factory=Counter)

    @contextmanager
    def attempt(self, client: str, account: str) -> Iterator[float]:
        """An attempt under way (TooManyAttempts when one more is not allowed): the seconds it waits."""
        keys = (("client", client), ("account", account.casefold()))
        if self.busy[keys[0]] >= PER_CLIENT or self.busy[keys[1]] >= PER_ACCOUNT:
            raise TooManyAttempts(client, account)
        self.busy.update(keys)
        try:
            yield self.delay(client, account)
        finally:
            self.busy.subtract(keys)
            self.busy += Counter()  # drop the zero counts

    def delay(self, client: str, account: str) -> float:
        """Seconds the next attempt of `client` on `account` waits."""
        by_client = self.failures.get(("client", client), 0) - (CLIENT_FREE - FREE_FAILURES)
        return max(failure_delay(self.failures.get(("account", account.casefold()), 0)), failure_delay(by_client))

    def record(self, client: str, account: str, succeeded: bool) -> None:
        """Count a failure of the client and the account, or start both over after a success."""
        for key in (("client", client), ("account", account.casefold())):
            self.failures[key] = 0 if succeeded else self.failures.get(key, 0) + 1
            self.failures.move_to_end(key)
        while len(self.failures) > KEPT:
            self.failures.popitem(last=False)
