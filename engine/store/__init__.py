"""The store: tables and migrations (`db`), what makes a file a cardflow store (`checks`) and
`check-store` (`health`), what differs on PostgreSQL (`dialect`), reads and writes (`queries`),
stored rows as templates and expressions see them (`views`), and users imported from CSV, JSON or
YAML (`users`).

May import: the ground floor (diagnostics, errors, clock). Not the definitions: the store keeps rows.
"""
