"""Approvers: approve, reject (with a reason) or postpone requested cards; four-eyes."""

from __future__ import annotations

import click

from commands.shared import action_command

approve = action_command("approve", "Approve requested cards (approver role; nobody approves their own request).")
reject = action_command("reject", "Reject requested cards with --reason (approver role; four-eyes).")
postpone = action_command("postpone", "Leave requested cards open for a later decision (approver role; four-eyes).")


COMMANDS: list[click.Command] = [approve, reject, postpone]
