"""Definitions: what administrators write, from YAML text to checked, compiled processes.

load (YAML with locations) → validate (shape, with `schemas`) → model (frozen dataclasses) →
check (meaning) → options (effective values, with provenance) → expressions and closures (the
guard language) → compile (one shared `transitions` Machine per process and options). `templates`
finds, checks and renders the email templates (in the bounded `sandbox`, checked against
`email_samples`); `schedule` reads the scheduled jobs and checks their cron expressions;
`creating` checks the trigger that creates a card;
`files` finds a workspace and lists the files loading reads, `workspace` runs the stages over it,
and `cache` keeps a workspace that passed, so an unchanged one is not checked again.

May import: the ground floor (diagnostics, errors, clock). Nothing here touches the store.
"""
