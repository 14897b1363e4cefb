"""Approvers: approve, reject (with a reason) or postpone requested cards; four-eyes."""

from __future__ import annotations

import click

from commands.shared import action_command

approve = action_command(
    "approve",
    "Approve requested cards (approver role; nobody approves their own request).",
    "Optional: a note to the requester, sent in the approval email and kept in the card's history.",
)
reject = action_command(
    "reject",
    "Reject requested cards with --reason (approver role; four-eyes).",
    "Required: why the request is rejected; sent to the requester in the rejection email and kept in the card's history.",
)
postpone = action_command(
    "postpone",
    "Leave requested cards open for a later decision (approver role; four-eyes).",
    "Optional: why the decision waits; kept in the card's history (`cardflow explain`).",
)


COMMANDS: list[click.Command] = [approve, reject, postpone]
