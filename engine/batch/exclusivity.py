"""Exclusivity groups at run time: which open cards a new card of a process is refused for, and
the words of the refusal, naming the open card and its process."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection

from engine.definitions.compile import CompiledProcess
from engine.definitions.model import Workspace
from engine.store import open_cards
from engine.store.open_cards import OpenCards


def refusal(user_id: str, held: OpenCards, group: str, names: Mapping[str, str]) -> str:
    """Why `user_id` gets no new card of a process of `group`: the open card they hold (`names`:
    each process's name by its symbolic name)."""
    return f"user {user_id} already has open card {held.card} of '{names.get(held.process, held.process)}' (group {group})"


def refused_new_card(compiled: CompiledProcess, names: Mapping[str, str], user_id: str, held: OpenCards | None) -> str | None:
    """The refusal of a new card of `compiled` for `user_id`, who holds `held` of its group, while its rule holds."""
    group = compiled.group
    return refusal(user_id, held, group, names) if held is not None and group else None


def refused_move(connection: Connection, workspace: Workspace, compiled: CompiledProcess, card: Mapping[str, object]) -> str:
    """Why the store refused to reopen `card` (it would give its holder a second open card of the
    group): the open card holding the group's key, read on `connection`."""
    user_id = str(card["user_id"])
    key = compiled.open_key(user_id)
    other = open_cards.with_key(connection, key) if key else None
    group = compiled.group
    if other is None or group is None:
        return f"user {user_id} already has another open card of the group"
    names = workspace.exclusive_group(compiled.process)
    return refusal(user_id, OpenCards(1, other["id"], other["process"]), group, names)
